"""Building checked filter values from raw input, shared by every form's parser (URL and
form in :mod:`.parsing`, JSON in :mod:`.json_form`). Errors name attributes and positions,
never a value (the value might be personal data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from access.errors import InvalidInput

from ..validation import storable_text
from .values import (
    MAX_COUNT,
    MAX_NAME_LENGTH,
    MAX_VALUE_LENGTH,
    MAX_WITHIN_DAYS,
    VALID_OPERATORS,
    Condition,
    CountOp,
    EventCondition,
    EventCount,
    Operator,
    parse_operator,
    parse_value_type,
)

_DONE_WORDS = {"1": True, "true": True, "yes": True, "on": True}
_DONE_WORDS |= {"0": False, "false": False, "no": False, "off": False}


def clean_name(raw: Any, *, where: str, what: str = "attribute") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(f"{where}: the {what} name is missing.")
    name = raw.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{where}: the {what} name is longer than {MAX_NAME_LENGTH}.")
    if not storable_text(name):
        # PostgreSQL cannot compare a NUL or a lone surrogate (a DataError, a 500).
        raise InvalidInput(f"{where}: the {what} name contains a NUL character or invalid Unicode.")
    return name


def refuse_unknown_keys(item: Mapping[Any, Any], known: frozenset[str], *, where: str) -> None:
    unknown = sorted(str(k)[:40] for k in item if k not in known)
    if unknown:
        raise InvalidInput(f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}.")


def flag(raw: Any, *, where: str, what: str, default: bool) -> bool:
    """A yes/no field: a JSON boolean, or a form's ``1``/``0``/``true``/``on``…"""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _DONE_WORDS:
        return _DONE_WORDS[raw.strip().lower()]
    raise InvalidInput(f"{where}: '{what}' must be true or false.")


def make_condition(
    *,
    attribute: Any,
    operator: Any,
    value: Any = "",
    value2: Any = "",
    type_: Any = None,
    negate: Any = False,
    where: str,
    strict: bool = False,
) -> Condition:
    """``strict`` (the JSON and compact forms): a value the operator does not take is an
    error, not dropped. The HTML form keeps a typed value when the operator is switched
    to "exists", so it is not strict about that (dropping it selects the same customers)."""
    name = clean_name(attribute, where=where)
    if not isinstance(operator, str) or not operator.strip():
        raise InvalidInput(f"{where}: the operator for '{name}' is missing.")
    op = parse_operator(operator, where=where)
    if type_ is not None and not isinstance(type_, str):
        raise InvalidInput(f"{where}: the value type for '{name}' must be a string.")
    vtype = parse_value_type(type_, where=where) if isinstance(type_, str) and type_ else None
    value = _text(value, where=where, name=name)
    value2 = _text(value2, where=where, name=name)
    if op.takes_value and value == "":
        raise InvalidInput(f"{where}: the condition on '{name}' needs a value.")
    if op is Operator.BETWEEN and value2 == "":
        raise InvalidInput(f"{where}: 'between' on '{name}' needs two values.")
    if strict and not op.takes_value and (value or value2):
        raise InvalidInput(f"{where}: '{op.label}' on '{name}' takes no value.")
    if strict and op.takes_value and op is not Operator.BETWEEN and value2:
        raise InvalidInput(f"{where}: '{op.label}' on '{name}' takes one value, not two.")
    if not op.takes_value:
        value, value2 = "", ""
    elif op is not Operator.BETWEEN:
        value2 = ""
    if vtype is not None and op not in VALID_OPERATORS[vtype]:
        raise InvalidInput(f"{where}: '{op.label}' cannot be used on {vtype.value} values.")
    return Condition(
        attribute=name,
        operator=op,
        value=value,
        value2=value2,
        type=vtype,
        negate=flag(negate, where=where, what="not", default=False),
    )


def _text(raw: Any, *, where: str, name: str) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | Decimal):
        return str(raw)
    if not isinstance(raw, str):
        raise InvalidInput(f"{where}: the value for '{name}' must be a string, number or boolean.")
    if len(raw) > MAX_VALUE_LENGTH:
        raise InvalidInput(f"{where}: the value for '{name}' is longer than {MAX_VALUE_LENGTH}.")
    if not storable_text(raw):
        raise InvalidInput(
            f"{where}: the value for '{name}' contains a NUL character or invalid Unicode."
        )
    return raw.strip()


def make_count(op: Any, value: Any, *, where: str) -> EventCount | None:
    """``at_least`` / ``at_most`` / ``exactly`` N; both empty is no count (at least once)."""
    if (op is None or op == "") and (value is None or value == ""):
        return None
    try:
        count_op = CountOp(str(op).strip().lower())
    except ValueError:
        raise InvalidInput(f"{where}: the count must be at_least, at_most or exactly.") from None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{where}: the count must be a whole number.")
    text = str(value).strip()
    if not text.isdigit() or int(text) > MAX_COUNT:
        raise InvalidInput(f"{where}: the count must be a whole number up to {MAX_COUNT}.")
    return EventCount(op=count_op, value=int(text))


def clean_date(raw: Any, *, where: str, what: str) -> str:
    """An ISO date (``YYYY-MM-DD``) bound of an event's time window, or ''."""
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str):
        raise InvalidInput(f"{where}: '{what}' must be a date (YYYY-MM-DD).")
    try:
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"{where}: '{what}' must be a date (YYYY-MM-DD).") from None
    if day >= dt.date.max:
        raise InvalidInput(f"{where}: '{what}' must be before 9999-12-31.")
    return day.isoformat()


def make_event(
    *,
    event_type: Any,
    within_days: Any,
    done: Any,
    where: str,
    conditions: tuple[Condition, ...] = (),
    count: EventCount | None = None,
    since: Any = "",
    until: Any = "",
) -> EventCondition:
    name = clean_name(event_type, where=where, what="event type")
    days: int | None = None
    if within_days not in (None, ""):
        try:
            days = int(str(within_days).strip())
        except ValueError:
            raise InvalidInput(f"{where}: 'within days' must be a whole number.") from None
        if not 1 <= days <= MAX_WITHIN_DAYS:
            raise InvalidInput(f"{where}: 'within days' must be between 1 and {MAX_WITHIN_DAYS}.")
    did = flag(done, where=where, what="done", default=True)
    start = clean_date(since, where=where, what="since")
    end = clean_date(until, where=where, what="until")
    if start and end and start > end:
        raise InvalidInput(f"{where}: 'since' is after 'until'.")
    if count is not None and not did:
        raise InvalidInput(
            f"{where}: 'has never done' takes no count; use a count of at most or exactly."
        )
    return EventCondition(
        event_type=name,
        within_days=days,
        done=did,
        where=conditions,
        count=count,
        since=start,
        until=end,
    )
