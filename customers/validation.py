"""Validation of tracked input, with Exponea's limits. Errors name fields, never values."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from access.errors import InvalidInput, TooLarge

# Exponea accepts timestamps as seconds since the epoch; anything outside this is a mistake.
MIN_TIMESTAMP = 0.0
MAX_TIMESTAMP = 4102444800.0  # 2100-01-01


def limit(name: str) -> int:
    return int(settings.EXPONEA_LIMITS[name])


def clean_name(name: Any, *, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} must be a non-empty string.")
    if len(name) > limit("NAME_CHARS"):
        raise InvalidInput(f"{what} is longer than {limit('NAME_CHARS')} characters.")
    return name


def clean_ids(ids: Any, *, known: Mapping[str, bool]) -> dict[str, str]:
    """``{"registered": "...", "cookie": "..."}``; ``known`` maps ID names to "is hard"."""
    if not isinstance(ids, dict) or not ids:
        raise InvalidInput("customer_ids must be a non-empty object of ID name to value.")
    cleaned: dict[str, str] = {}
    for name, value in ids.items():
        clean_name(name, what="An ID name")
        if name not in known:
            raise InvalidInput(f"Unknown customer ID name '{name}'.")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInput(f"customer_ids.{name} must be a string.")
        text = str(value)
        if not text:
            raise InvalidInput(f"customer_ids.{name} must not be empty.")
        if len(text) > limit("ID_VALUE_CHARS"):
            raise TooLarge(
                f"customer_ids.{name} is longer than {limit('ID_VALUE_CHARS')} characters."
            )
        cleaned[name] = text
    return cleaned


def clean_properties(properties: Any, *, what: str = "properties") -> dict[str, Any]:
    if properties is None:
        return {}
    if not isinstance(properties, dict):
        raise InvalidInput(f"{what} must be an object.")
    max_bytes = limit("PROPERTY_VALUE_BYTES")
    for name, value in properties.items():
        clean_name(name, what=f"A name in {what}")
        try:
            encoded = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{what}.{name} is not a JSON value.") from exc
        if len(encoded.encode()) >= max_bytes:
            raise TooLarge(f"{what}.{name} is {max_bytes // 1024} KB or larger.")
    return dict(properties)


def clean_timestamp(value: Any, *, what: str = "timestamp") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{what} must be a number of seconds since the epoch.")
    ts = float(value)
    if not math.isfinite(ts) or not MIN_TIMESTAMP <= ts < MAX_TIMESTAMP:
        raise InvalidInput(f"{what} is out of range.")
    return ts


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
