"""The customer filter as parsed: :class:`CustomerFilter`, and the three parsers that build it.

A :class:`CustomerFilter` is an immutable value: AND-combined conditions on customer
attributes (properties and ID names share one namespace, as in the catalog) plus event
conditions ("has done purchase in the last 30 days"). It is parsed from, and written
back to, four shapes:

URL query string (also the CLI ``--filter`` argument, :meth:`CustomerFilter.from_string`)
    Canonical, compact form, one parameter per condition::

        c=plan:equals:premium&c=lifetime_value:between:100..500&e=purchase:30

    ``c=<attribute>:<operator>[:<value>]``: the value is everything after the second
    colon (it may contain colons); ``between`` takes ``<low>..<high>``. The attribute part
    may carry an explicit value type, ``c=age@number:gt:30``; without it the type comes
    from the Data manager catalog. ``:``, ``@`` and ``%`` in an attribute name are
    percent-encoded. ``e=<event type>[:<days>]`` is "has done the event (in the last N
    days)"; ``e=!<event type>[:<days>]`` is "has not done it".

HTML form (the filter builder, plain GET, no JavaScript needed)
    Indexed fields: ``c0.attribute``, ``c0.operator``, ``c0.value``, ``c0.value2``,
    ``c0.type``; ``e0.event_type``, ``e0.within_days``, ``e0.done`` (``"1"``/``"0"``).
    Rows with an empty attribute / event type are ignored (the blank "add" row).
    :meth:`CustomerFilter.from_querydict` accepts both forms; :meth:`to_querystring`
    writes the compact one.

JSON (the export API), :meth:`CustomerFilter.from_api`
    See that method's docstring.

Operators: ``equals``, ``not_equals``, ``contains``, ``starts_with``, ``exists``,
``not_exists``, ``gt``, ``lt``, ``between`` (aliases such as ``eq``, ``!=``,
``greater_than``, ``does_not_exist`` are accepted). Value types: ``string``, ``number``,
``boolean``, ``date``. ``contains`` and ``starts_with`` are case-insensitive; ``between``
is inclusive; ``not_equals`` also matches customers without the attribute (it is the
complement of ``equals``). A value stored with another JSON type than the condition's
(a number stored as a string) does not match ``equals``/``gt``/``lt``/``between``.

:func:`.sql.customers_matching` evaluates a filter for a principal. A principal who may not
see personal data gets :class:`~access.errors.PiiFieldRefused` for any condition on a PII
attribute, before anything is evaluated. Parse errors are
:class:`~access.errors.InvalidInput`; messages name attributes and positions, never a
value (the value might be personal data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from access.errors import InvalidInput

from ..validation import storable_text
from .values import (
    BETWEEN_SEPARATOR,
    COMPACT_CONDITION,
    COMPACT_EVENT,
    MAX_CONDITIONS,
    MAX_NAME_LENGTH,
    MAX_VALUE_LENGTH,
    MAX_WITHIN_DAYS,
    VALID_OPERATORS,
    Condition,
    EventCondition,
    Operator,
    parse_operator,
    parse_value_type,
)

# The keys each JSON shape understands; anything else is refused, never ignored (an
# ignored "not" or a misplaced "attribute" would select more customers than asked).
CONDITION_KEYS = frozenset({"attribute", "operator", "value", "value2", "type"})
EVENT_KEYS = frozenset({"event_type", "within_days", "done"})
_DONE_WORDS = {"1": True, "true": True, "yes": True, "on": True}
_DONE_WORDS |= {"0": False, "false": False, "no": False, "off": False}
_INDEXED_KEY = re.compile(r"^([ce])([0-9]+)\.(.*)$", re.DOTALL)


def _clean_name(raw: Any, *, where: str, what: str = "attribute") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(f"{where}: the {what} name is missing.")
    name = raw.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{where}: the {what} name is longer than {MAX_NAME_LENGTH}.")
    if not storable_text(name):
        # PostgreSQL cannot compare a NUL or a lone surrogate (a DataError, a 500).
        raise InvalidInput(f"{where}: the {what} name contains a NUL character or invalid Unicode.")
    return name


def _refuse_unknown_keys(item: Mapping[Any, Any], known: frozenset[str], *, where: str) -> None:
    unknown = sorted(str(k)[:40] for k in item if k not in known)
    if unknown:
        raise InvalidInput(f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}.")


def _make_condition(
    *,
    attribute: Any,
    operator: Any,
    value: Any = "",
    value2: Any = "",
    type_: Any = None,
    where: str,
    strict: bool = False,
) -> Condition:
    """``strict`` (the JSON and compact forms): a value the operator does not take is an
    error, not dropped. The HTML form keeps a typed value when the operator is switched
    to "exists", so it is not strict about that (dropping it selects the same customers)."""
    name = _clean_name(attribute, where=where)
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
    return Condition(attribute=name, operator=op, value=value, value2=value2, type=vtype)


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


def _make_event(*, event_type: Any, within_days: Any, done: Any, where: str) -> EventCondition:
    name = _clean_name(event_type, where=where, what="event type")
    days: int | None = None
    if within_days not in (None, ""):
        try:
            days = int(str(within_days).strip())
        except ValueError:
            raise InvalidInput(f"{where}: 'within days' must be a whole number.") from None
        if not 1 <= days <= MAX_WITHIN_DAYS:
            raise InvalidInput(f"{where}: 'within days' must be between 1 and {MAX_WITHIN_DAYS}.")
    if isinstance(done, str) and done.strip():
        word = done.strip().lower()
        if word not in _DONE_WORDS:
            raise InvalidInput(f"{where}: 'done' must be true or false.")
        done = _DONE_WORDS[word]
    elif done is None or done == "":
        done = True
    elif not isinstance(done, bool):
        raise InvalidInput(f"{where}: 'done' must be true or false.")
    return EventCondition(event_type=name, within_days=days, done=done)


def _getlist(data: Any, key: str) -> list[Any]:
    if hasattr(data, "getlist"):
        return list(data.getlist(key))
    value = data.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _getone(data: Any, key: str) -> Any:
    values = _getlist(data, key)
    return values[-1] if values else None


_INDEXED_FIELDS = {
    COMPACT_CONDITION: frozenset({"attribute", "operator", "value", "value2", "type"}),
    COMPACT_EVENT: frozenset({"event_type", "within_days", "done"}),
}


def _indexed_keys(data: Any, prefix: str) -> list[int]:
    indexes: set[int] = set()
    for key in data:
        match = _INDEXED_KEY.match(str(key))
        if match and match.group(1) == prefix:
            indexes.add(int(match.group(2)))
    return sorted(indexes)


def _refuse_unknown_parameters(data: Any, *, strict: bool) -> None:
    """Every ``cN.*`` / ``eN.*`` field must be one the form has (``c0.not`` is refused,
    not ignored); ``strict`` (CLI, bulk anonymization): no parameter but the filter's."""
    for key in data:
        text = str(key)
        match = _INDEXED_KEY.match(text)
        if match:
            prefix, index, name = match.groups()
            if len(index) > 3 or name not in _INDEXED_FIELDS[prefix]:
                raise InvalidInput(f"Unknown filter parameter '{text[:40]}'.")
        elif strict and text not in (COMPACT_CONDITION, COMPACT_EVENT):
            raise InvalidInput(f"Unknown filter parameter '{text[:40]}'.")


@dataclass(frozen=True)
class CustomerFilter:
    """AND-combined attribute and event conditions. Immutable; empty matches everyone."""

    conditions: tuple[Condition, ...] = ()
    events: tuple[EventCondition, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.conditions) + len(self.events) > MAX_CONDITIONS:
            raise InvalidInput(f"A filter may have at most {MAX_CONDITIONS} conditions.")

    # Introspection ------------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return not self.conditions and not self.events

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Attribute names used, in order, without repeats (for PII checks and the audit)."""
        return tuple(dict.fromkeys(c.attribute for c in self.conditions))

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.event_type for e in self.events))

    def describe(self, *, with_values: bool = False) -> list[str]:
        """Labels of the conditions, naming attributes and, only if asked, the values.

        ``with_values`` is for echoing a filter to the principal who wrote it and whose
        filter :func:`customers_matching` accepted (so it holds no PII it may not see).
        """
        conditions = [c.label_with_value if with_values else c.label for c in self.conditions]
        return conditions + [e.label for e in self.events]

    # Parsing ------------------------------------------------------------------------------

    @classmethod
    def from_querydict(cls, data: Mapping[str, Any], *, strict: bool = False) -> CustomerFilter:
        """Parse the URL / form parameters (compact ``c``/``e`` and indexed ``cN.*``/``eN.*``).

        ``data`` is a Django ``QueryDict`` or any mapping of name to a string or a list of
        strings. An unknown ``cN.*`` / ``eN.*`` field is refused; other parameters (the
        list's sort, columns, cursor) are ignored unless ``strict``.
        """
        _refuse_unknown_parameters(data, strict=strict)
        conditions: list[Condition] = []
        events: list[EventCondition] = []
        for position, raw in enumerate(_getlist(data, COMPACT_CONDITION), start=1):
            conditions.append(_parse_compact_condition(str(raw), where=f"Condition {position}"))
        for index in _indexed_keys(data, COMPACT_CONDITION):
            key = f"{COMPACT_CONDITION}{index}."
            attribute = _getone(data, key + "attribute")
            if not attribute or not str(attribute).strip():
                continue  # the blank "add a condition" row of the form
            where = f"Condition {len(conditions) + 1}"
            conditions.append(
                _make_condition(
                    attribute=attribute,
                    operator=_getone(data, key + "operator") or "",
                    value=_getone(data, key + "value") or "",
                    value2=_getone(data, key + "value2") or "",
                    type_=_getone(data, key + "type"),
                    where=where,
                )
            )
        for position, raw in enumerate(_getlist(data, COMPACT_EVENT), start=1):
            events.append(_parse_compact_event(str(raw), where=f"Event condition {position}"))
        for index in _indexed_keys(data, COMPACT_EVENT):
            key = f"{COMPACT_EVENT}{index}."
            event_type = _getone(data, key + "event_type")
            if not event_type or not str(event_type).strip():
                continue
            events.append(
                _make_event(
                    event_type=event_type,
                    within_days=_getone(data, key + "within_days"),
                    done=_getone(data, key + "done"),
                    where=f"Event condition {len(events) + 1}",
                )
            )
        return cls(conditions=tuple(conditions), events=tuple(events))

    @classmethod
    def from_string(cls, text: str) -> CustomerFilter:
        """Parse a CLI ``--filter`` argument: the same syntax as the URL query string.

        ``"c=plan:equals:premium&e=purchase:30"``; a leading ``?`` is allowed. Strict: a
        parameter that is not part of a filter is refused (the bulk anonymization form
        and the CLI must never run a filter wider than the one written).
        """
        if not isinstance(text, str):
            raise InvalidInput("The filter must be a string.")
        text = text.strip().lstrip("?")
        data: dict[str, list[str]] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            data.setdefault(key, []).append(value)
        return cls.from_querydict(data, strict=True)

    @classmethod
    def from_api(cls, obj: Any) -> CustomerFilter:
        """Parse the JSON filter of an API request body.

        Shape (both keys optional; ``null`` or ``{}`` is the empty filter)::

            {
              "conditions": [
                {"attribute": "plan", "operator": "equals", "value": "premium"},
                {"attribute": "lifetime_value", "operator": "between", "value": [100, 500]},
                {"attribute": "age", "operator": "gt", "value": 30, "type": "number"},
                {"attribute": "email", "operator": "exists"}
              ],
              "events": [
                {"event_type": "purchase", "within_days": 30},
                {"event_type": "newsletter_unsubscribe", "done": false}
              ]
            }

        ``value`` is a string, number or boolean (``between``: a list of two, or
        ``value`` and ``value2``); ``type`` is optional (``string``, ``number``,
        ``boolean``, ``date``; default: the catalog's type of the attribute).
        """
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise InvalidInput("The filter must be an object with 'conditions' and 'events'.")
        unknown = sorted(set(obj) - {"conditions", "events"})
        if unknown:
            raise InvalidInput(f"Unknown filter key(s): {', '.join(str(k)[:40] for k in unknown)}.")
        raw_conditions = obj.get("conditions")
        raw_events = obj.get("events")
        raw_conditions = [] if raw_conditions is None else raw_conditions
        raw_events = [] if raw_events is None else raw_events
        if not isinstance(raw_conditions, list) or not isinstance(raw_events, list):
            raise InvalidInput("'conditions' and 'events' must be lists.")
        conditions: list[Condition] = []
        for position, item in enumerate(raw_conditions, start=1):
            where = f"Condition {position}"
            if not isinstance(item, Mapping):
                raise InvalidInput(f"{where}: must be an object.")
            _refuse_unknown_keys(item, CONDITION_KEYS, where=where)
            value, value2 = item.get("value", ""), item.get("value2", "")
            if isinstance(value, list):
                if len(value) != 2 or "value2" in item:
                    raise InvalidInput(f"{where}: a list value must hold exactly two values.")
                value, value2 = value
            conditions.append(
                _make_condition(
                    attribute=item.get("attribute"),
                    operator=item.get("operator"),
                    value=value,
                    value2=value2,
                    type_=item.get("type"),
                    where=where,
                    strict=True,
                )
            )
        events: list[EventCondition] = []
        for position, item in enumerate(raw_events, start=1):
            where = f"Event condition {position}"
            if not isinstance(item, Mapping):
                raise InvalidInput(f"{where}: must be an object.")
            _refuse_unknown_keys(item, EVENT_KEYS, where=where)
            within = item.get("within_days")
            if not isinstance(item.get("done", True), bool):
                raise InvalidInput(f"{where}: 'done' must be true or false.")
            if within is not None and (isinstance(within, bool) or not isinstance(within, int)):
                raise InvalidInput(f"{where}: 'within_days' must be a whole number.")
            events.append(
                _make_event(
                    event_type=item.get("event_type"),
                    within_days=within,
                    done=item.get("done", True),
                    where=where,
                )
            )
        return cls(conditions=tuple(conditions), events=tuple(events))

    # Writing ------------------------------------------------------------------------------

    def to_pairs(self) -> list[tuple[str, str]]:
        return [(COMPACT_CONDITION, c.to_compact()) for c in self.conditions] + [
            (COMPACT_EVENT, e.to_compact()) for e in self.events
        ]

    def to_querystring(self) -> str:
        """The canonical URL form (without ``?``); ``from_string`` reads it back."""
        return urlencode(self.to_pairs(), safe=":@!")

    def to_api(self) -> dict[str, Any]:
        return {
            "conditions": [c.to_api() for c in self.conditions],
            "events": [e.to_api() for e in self.events],
        }

    # Editing (returns new filters) --------------------------------------------------------

    def with_condition(self, condition: Condition) -> CustomerFilter:
        return CustomerFilter(conditions=(*self.conditions, condition), events=self.events)

    def with_event(self, event: EventCondition) -> CustomerFilter:
        return CustomerFilter(conditions=self.conditions, events=(*self.events, event))


def _parse_compact_condition(raw: str, *, where: str) -> Condition:
    parts = raw.split(":", 2)
    if len(parts) < 2:
        raise InvalidInput(f"{where}: expected '<attribute>:<operator>[:<value>]'.")
    attribute_part = parts[0]
    type_: str | None = None
    if "@" in attribute_part:
        attribute_part, type_ = attribute_part.rsplit("@", 1)
    attribute = unquote(attribute_part)
    value = parts[2] if len(parts) == 3 else ""
    value2 = ""
    op_text = parts[1]
    if parse_operator(op_text, where=where) is Operator.BETWEEN:
        if BETWEEN_SEPARATOR not in value:
            raise InvalidInput(f"{where}: 'between' needs '<low>..<high>'.")
        value, value2 = value.split(BETWEEN_SEPARATOR, 1)
    return _make_condition(
        attribute=attribute,
        operator=op_text,
        value=value,
        value2=value2,
        type_=type_,
        where=where,
        strict=True,
    )


def _parse_compact_event(raw: str, *, where: str) -> EventCondition:
    done = True
    if raw.startswith("!"):
        done, raw = False, raw[1:]
    name, _, days = raw.partition(":")
    return _make_event(event_type=unquote(name), within_days=days or None, done=done, where=where)
