"""Validation of tracked input, with Exponea's limits. Errors name fields, never values."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from access.errors import InvalidInput, TooLarge
from access.json_input import PROPERTY_NESTING_LEVELS, nesting_exceeds

# Exponea accepts timestamps as seconds since the epoch; anything outside this is a mistake.
MIN_TIMESTAMP = 0.0
MAX_TIMESTAMP = 4102444800.0  # 2100-01-01


def limit(name: str) -> int:
    return int(settings.EXPONEA_LIMITS[name])


def storable_text(text: str) -> bool:
    """False for text PostgreSQL cannot store: a NUL character or a lone surrogate."""
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def storable(value: Any) -> bool:
    """True if every string in a JSON value (keys too) can be stored by PostgreSQL."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return all(storable(v) for v in value)
    if isinstance(value, dict):
        return all(storable_text(str(k)) and storable(v) for k, v in value.items())
    return True


# Names that passed the checks below (the same few hundred names arrive on every request).
_checked_names: set[str] = set()
_CHECKED_NAMES_MAX = 50_000


def clean_name(name: Any, *, what: str, max_chars: int | None = None) -> str:
    """A non-empty name within ``NAME_CHARS`` (pass ``max_chars`` when checking many)."""
    most = max_chars if max_chars is not None else limit("NAME_CHARS")
    if type(name) is str and name in _checked_names and len(name) <= most:
        return name
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} must be a non-empty string.")
    if not storable_text(name):
        raise InvalidInput(f"{what} contains a NUL character or invalid Unicode.")
    if len(name) > most:
        raise InvalidInput(f"{what} is longer than {most} characters.")
    if len(_checked_names) < _CHECKED_NAMES_MAX:
        _checked_names.add(name)
    return name


def clean_ids(ids: Any, *, known: Mapping[str, bool]) -> dict[str, str]:
    """``{"registered": "...", "cookie": "..."}``; ``known`` maps ID names to "is hard"."""
    if not isinstance(ids, dict) or not ids:
        raise InvalidInput("customer_ids must be a non-empty object of ID name to value.")
    cleaned: dict[str, str] = {}
    limits = settings.EXPONEA_LIMITS
    name_chars, value_chars = int(limits["NAME_CHARS"]), int(limits["ID_VALUE_CHARS"])
    for name, value in ids.items():
        clean_name(name, what="An ID name", max_chars=name_chars)
        if name not in known:
            raise InvalidInput(f"Unknown customer ID name '{name}'.")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInput(f"customer_ids.{name} must be a string.")
        text = str(value)
        if not text:
            raise InvalidInput(f"customer_ids.{name} must not be empty.")
        if not storable_text(text):
            raise InvalidInput(f"customer_ids.{name} contains a NUL character or invalid Unicode.")
        if len(text) > value_chars:
            raise TooLarge(f"customer_ids.{name} is longer than {value_chars} characters.")
        cleaned[name] = text
    return cleaned


# The largest finite double; integers beyond it have no double precision value.
_MAX_DOUBLE = int(sys.float_info.max)


def clean_properties(properties: Any, *, what: str = "properties") -> dict[str, Any]:
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise InvalidInput(f"{what} must be an object.")
    limits = settings.EXPONEA_LIMITS
    max_bytes, name_chars = int(limits["PROPERTY_VALUE_BYTES"]), int(limits["NAME_CHARS"])
    # A string this short is under the limit even if every character were escaped as
    # \uXXXX (6 bytes), so it needs no encoding to check.
    short = (max_bytes - 3) // 6
    for name, value in properties.items():
        clean_name(name, what=f"A name in {what}", max_chars=name_chars)
        # Before anything walks the value recursively (storable, json.dumps, rendering).
        if isinstance(value, dict | list) and nesting_exceeds(value, PROPERTY_NESTING_LEVELS):
            raise InvalidInput(
                f"{what}.{name} nests lists or objects more than "
                f"{PROPERTY_NESTING_LEVELS} levels deep."
            )
        if not storable(value):
            raise InvalidInput(f"{what}.{name} contains a NUL character or invalid Unicode.")
        if isinstance(value, str) and len(value) <= short:
            continue
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            # PostgreSQL compares numbers as double precision (the filter, sorts and the
            # property indexes of customers/0002): a larger one could be stored but never
            # compared, and an indexed property's insert would fail.
            if abs(value) > _MAX_DOUBLE:
                raise InvalidInput(
                    f"{what}.{name} is a number out of range (at most about 1.8e308)."
                )
            continue
        if isinstance(value, float) and math.isfinite(value):
            continue
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{what}.{name} is not a JSON value.") from exc
        if len(encoded.encode()) >= max_bytes:
            raise TooLarge(f"{what}.{name} is {max_bytes // 1024} KB or larger.")
    return dict(properties)


# ISO 8601 date-time in the extended format (`docs/add-event`): a date, "T", a time with
# optional seconds and fraction, optionally "Z" or an offset. Without an offset it is UTC.
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)


def clean_timestamp(value: Any, *, what: str = "timestamp") -> float | None:
    """Seconds since the epoch from a number (fractions allowed) or an ISO 8601 string."""
    if value is None:
        return None
    if isinstance(value, str):
        ts = _iso_seconds(value, what=what)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(_timestamp_message(what))
    else:
        ts = float(value)
    if not math.isfinite(ts) or not MIN_TIMESTAMP <= ts < MAX_TIMESTAMP:
        raise InvalidInput(f"{what} is out of range.")
    return ts


def _timestamp_message(what: str) -> str:
    return (
        f"{what} must be a number of seconds since the epoch or an ISO 8601 date-time "
        "such as 2026-11-30T12:00:00Z."
    )


def _iso_seconds(text: str, *, what: str) -> float:
    message = _timestamp_message(what)
    if len(text) > 40 or not _ISO_DATETIME.fullmatch(text):
        raise InvalidInput(message)
    try:
        parsed = datetime.fromisoformat(text.replace(",", ".").upper())
    except ValueError as exc:  # 2026-13-45T99:00 has the shape but is no date
        raise InvalidInput(message) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
