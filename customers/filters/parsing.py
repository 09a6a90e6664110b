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
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from access.errors import InvalidInput

from .building import clean_name, make_condition, make_count, make_event
from .json_form import (
    FILTER_KEYS,
    consents_from_json,
    event_from_json,
    group_from_json,
    loads,
    parts_from_json,
)
from .values import (
    BETWEEN_SEPARATOR,
    COMPACT_CONDITION,
    COMPACT_CONSENT,
    COMPACT_EVENT,
    COMPACT_GROUP,
    CONSENT_EVENT,
    CONSENT_STATE_ATTRIBUTES,
    MAX_CONDITIONS,
    MAX_VALUE_LENGTH,
    NEGATION,
    Condition,
    ConsentCondition,
    EventCondition,
    Group,
    Match,
    Operator,
    parse_operator,
)

_INDEXED_KEY = re.compile(r"^([ceg])([0-9]+)\.(.*)$", re.DOTALL)
# A JSON parameter of the URL form (g=..., e={...}) is at most this long.
MAX_JSON_PARAMETER = 20 * MAX_VALUE_LENGTH


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


_WHERE_FIELDS = ("attribute", "operator", "value", "value2", "type")
_INDEXED_FIELDS = {
    COMPACT_CONDITION: frozenset({"attribute", "operator", "value", "value2", "type"})
    | {"not", "group"},
    COMPACT_EVENT: frozenset({"event_type", "within_days", "done", "group"})
    | {"count_op", "count", "since", "until"}
    | {f"where_{name}" for name in _WHERE_FIELDS},
    COMPACT_GROUP: frozenset({"match", "not"}),
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
        elif strict and text not in (
            COMPACT_CONDITION,
            COMPACT_EVENT,
            COMPACT_GROUP,
            COMPACT_CONSENT,
        ):
            raise InvalidInput(f"Unknown filter parameter '{text[:40]}'.")


@dataclass(frozen=True)
class CustomerFilter:
    """AND-combined attribute conditions, event conditions and groups (each an OR or AND
    of its own, optionally negated). Immutable; empty matches everyone."""

    conditions: tuple[Condition, ...] = ()
    events: tuple[EventCondition, ...] = field(default=())
    groups: tuple[Group, ...] = field(default=())
    consents: tuple[ConsentCondition, ...] = field(default=())

    def __post_init__(self) -> None:
        size = len(self.conditions) + len(self.events) + sum(g.size for g in self.groups)
        size += len(self.consents)
        size += sum(len(e.where) for e in self.all_events)
        if size > MAX_CONDITIONS:
            raise InvalidInput(f"A filter may have at most {MAX_CONDITIONS} conditions.")

    # Introspection ------------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return not (self.conditions or self.events or self.groups or self.consents)

    @property
    def all_conditions(self) -> list[Condition]:
        """Every customer-attribute condition, inside groups too (not events' ``where``)."""
        out = list(self.conditions)
        for group in self.groups:
            out += group.walk_conditions()
        return out

    @property
    def all_events(self) -> list[EventCondition]:
        out = list(self.events)
        for group in self.groups:
            out += group.walk_events()
        return out

    @property
    def all_consents(self) -> list[ConsentCondition]:
        out = list(self.consents)
        for group in self.groups:
            out += group.walk_consents()
        return out

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Attribute names used, in order, without repeats (for PII checks and the audit)."""
        return tuple(dict.fromkeys(c.attribute for c in self.all_conditions))

    @property
    def event_types(self) -> tuple[str, ...]:
        names = [e.event_type for e in self.all_events]
        names += [CONSENT_EVENT] if self.all_consents else []
        return tuple(dict.fromkeys(names))

    @property
    def event_attributes(self) -> dict[str, tuple[str, ...]]:
        """Event type -> the event attribute names its conditions filter by (PII checks)."""
        out: dict[str, dict[str, None]] = {}
        for event in self.all_events:
            for condition in event.where:
                out.setdefault(event.event_type, {})[condition.attribute] = None
        if self.all_consents:  # a consent's state is read from these attributes
            for name in CONSENT_STATE_ATTRIBUTES:
                out.setdefault(CONSENT_EVENT, {})[name] = None
        return {t: tuple(names) for t, names in out.items()}

    def describe(self, *, with_values: bool = False) -> list[str]:
        """Labels of the conditions, naming attributes and, only if asked, the values.

        ``with_values`` is for echoing a filter to the principal who wrote it and whose
        filter :func:`customers_matching` accepted (so it holds no PII it may not see).
        Groups and event attribute conditions are described without values.
        """
        conditions = [c.label_with_value if with_values else c.label for c in self.conditions]
        rest = [e.label for e in self.events] + [k.label for k in self.consents]
        return conditions + rest + [g.label for g in self.groups]

    # Parsing ------------------------------------------------------------------------------

    @classmethod
    def from_querydict(cls, data: Mapping[str, Any], *, strict: bool = False) -> CustomerFilter:
        """Parse the URL / form parameters (compact ``c``/``e``/``g`` and indexed
        ``cN.*``/``eN.*``/``gN.*``).

        ``data`` is a Django ``QueryDict`` or any mapping of name to a string or a list of
        strings. An unknown ``cN.*`` / ``eN.*`` / ``gN.*`` field is refused; other
        parameters (the list's sort, columns, cursor) are ignored unless ``strict``.
        Indexed rows with a ``group`` number go into the form's group of that number
        (``gN.match``: ``any`` or ``all``, ``gN.not``); the others are AND-combined.
        """
        _refuse_unknown_parameters(data, strict=strict)
        conditions: list[Condition] = []
        events: list[EventCondition] = []
        grouped: dict[int, tuple[list[Condition], list[EventCondition]]] = {}
        for position, raw in enumerate(_getlist(data, COMPACT_CONDITION), start=1):
            conditions.append(_parse_compact_condition(str(raw), where=f"Condition {position}"))
        for index in _indexed_keys(data, COMPACT_CONDITION):
            key = f"{COMPACT_CONDITION}{index}."
            attribute = _getone(data, key + "attribute")
            if not attribute or not str(attribute).strip():
                continue  # the blank "add a condition" row of the form
            group = _group_number(_getone(data, key + "group"))
            target = conditions if group is None else grouped.setdefault(group, ([], []))[0]
            target.append(
                make_condition(
                    attribute=attribute,
                    operator=_getone(data, key + "operator") or "",
                    value=_getone(data, key + "value") or "",
                    value2=_getone(data, key + "value2") or "",
                    type_=_getone(data, key + "type"),
                    negate=_getone(data, key + "not"),
                    where=f"Condition {len(conditions) + 1}",
                )
            )
        for position, raw in enumerate(_getlist(data, COMPACT_EVENT), start=1):
            events.append(_parse_compact_event(str(raw), where=f"Event condition {position}"))
        for index in _indexed_keys(data, COMPACT_EVENT):
            key = f"{COMPACT_EVENT}{index}."
            event_type = _getone(data, key + "event_type")
            if not event_type or not str(event_type).strip():
                continue
            group = _group_number(_getone(data, key + "group"))
            target_events = events if group is None else grouped.setdefault(group, ([], []))[1]
            seen = len(events) + sum(len(g[1]) for g in grouped.values()) + 1
            target_events.append(_form_event(data, key, where=f"Event condition {seen}"))
        groups = [
            _form_group(data, number, *grouped[number], where=f"Group {number + 1}")
            for number in sorted(grouped)
        ]
        consents = [
            _parse_compact_consent(str(raw), where=f"Consent condition {position}")
            for position, raw in enumerate(_getlist(data, COMPACT_CONSENT), start=1)
        ]
        for raw in _getlist(data, COMPACT_GROUP):
            text = str(raw)
            where = f"Group {len(groups) + 1}"
            if len(text) > MAX_JSON_PARAMETER:
                raise InvalidInput(f"{where}: longer than {MAX_JSON_PARAMETER} characters.")
            groups.append(group_from_json(loads(text, where=where), where=where))
        return cls(
            conditions=tuple(conditions),
            events=tuple(events),
            groups=tuple(groups),
            consents=tuple(consents),
        )

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
        """Parse the JSON filter of an API request body (docs/customer-filter.md).

        Shape (every key optional; ``null`` or ``{}`` is the empty filter)::

            {
              "conditions": [
                {"attribute": "plan", "operator": "equals", "value": "premium"},
                {"attribute": "lifetime_value", "operator": "between", "value": [100, 500]},
                {"attribute": "age", "operator": "gt", "value": 30, "type": "number"},
                {"attribute": "email", "operator": "exists", "not": true}
              ],
              "events": [
                {"event_type": "purchase", "within_days": 30,
                 "where": [{"attribute": "total", "operator": "gt", "value": 100}],
                 "count": {"op": "at_least", "value": 2}},
                {"event_type": "newsletter_unsubscribe", "done": false}
              ],
              "groups": [
                {"match": "any", "not": false, "conditions": [...], "events": [...],
                 "groups": [...]}
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
        unknown = sorted(set(obj) - FILTER_KEYS)
        if unknown:
            raise InvalidInput(f"Unknown filter key(s): {', '.join(str(k)[:40] for k in unknown)}.")
        conditions, events, groups = parts_from_json(obj)
        consents = consents_from_json(obj)
        return cls(conditions=conditions, events=events, groups=groups, consents=consents)

    # Writing ------------------------------------------------------------------------------

    def to_pairs(self) -> list[tuple[str, str]]:
        return (
            [(COMPACT_CONDITION, c.to_compact()) for c in self.conditions]
            + [(COMPACT_EVENT, e.to_compact()) for e in self.events]
            + [(COMPACT_GROUP, g.to_compact()) for g in self.groups]
            + [(COMPACT_CONSENT, k.to_compact()) for k in self.consents]
        )

    def to_querystring(self) -> str:
        """The canonical URL form (without ``?``); ``from_string`` reads it back."""
        return urlencode(self.to_pairs(), safe=":@!")

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "conditions": [c.to_api() for c in self.conditions],
            "events": [e.to_api() for e in self.events],
        }
        if self.groups:
            out["groups"] = [g.to_api() for g in self.groups]
        if self.consents:
            out["consents"] = [k.to_api() for k in self.consents]
        return out

    # Editing (returns new filters) --------------------------------------------------------

    def with_condition(self, condition: Condition) -> CustomerFilter:
        return CustomerFilter(
            conditions=(*self.conditions, condition),
            events=self.events,
            groups=self.groups,
            consents=self.consents,
        )

    def with_event(self, event: EventCondition) -> CustomerFilter:
        return CustomerFilter(
            conditions=self.conditions,
            events=(*self.events, event),
            groups=self.groups,
            consents=self.consents,
        )

    def with_group(self, group: Group) -> CustomerFilter:
        return CustomerFilter(
            conditions=self.conditions,
            events=self.events,
            groups=(*self.groups, group),
            consents=self.consents,
        )


def _group_number(raw: Any) -> int | None:
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 2:
        raise InvalidInput("A condition's group must be a small whole number.")
    return int(text)


def _form_event(data: Any, key: str, *, where: str) -> EventCondition:
    """One event row of the HTML builder: at most one attribute condition (``where_*``)."""
    attribute = _getone(data, key + "where_attribute")
    conditions: tuple[Condition, ...] = ()
    if attribute and str(attribute).strip():
        conditions = (
            make_condition(
                attribute=attribute,
                operator=_getone(data, key + "where_operator") or "",
                value=_getone(data, key + "where_value") or "",
                value2=_getone(data, key + "where_value2") or "",
                type_=_getone(data, key + "where_type"),
                where=f"{where}, attribute condition",
            ),
        )
    return make_event(
        event_type=_getone(data, key + "event_type"),
        within_days=_getone(data, key + "within_days"),
        done=_getone(data, key + "done"),
        conditions=conditions,
        count=make_count(
            _getone(data, key + "count_op"), _getone(data, key + "count"), where=where
        ),
        since=_getone(data, key + "since") or "",
        until=_getone(data, key + "until") or "",
        where=where,
    )


def _form_group(
    data: Any,
    number: int,
    conditions: list[Condition],
    events: list[EventCondition],
    *,
    where: str,
) -> Group:
    key = f"{COMPACT_GROUP}{number}."
    raw_match = str(_getone(data, key + "match") or Match.ANY.value).strip().lower()
    try:
        match = Match(raw_match)
    except ValueError:
        raise InvalidInput(f"{where}: 'match' must be 'any' or 'all'.") from None
    negate = str(_getone(data, key + "not") or "").strip().lower() in ("1", "true", "on", "yes")
    return Group(match=match, conditions=tuple(conditions), events=tuple(events), negate=negate)


def _parse_compact_condition(raw: str, *, where: str) -> Condition:
    negate = raw.startswith(NEGATION)
    if negate:
        raw = raw[len(NEGATION) :]
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
    return make_condition(
        attribute=attribute,
        operator=op_text,
        value=value,
        value2=value2,
        type_=type_,
        negate=negate,
        where=where,
        strict=True,
    )


def _parse_compact_event(raw: str, *, where: str) -> EventCondition:
    if raw.startswith("{"):
        if len(raw) > MAX_JSON_PARAMETER:
            raise InvalidInput(f"{where}: longer than {MAX_JSON_PARAMETER} characters.")
        return event_from_json(loads(raw, where=where), where=where)
    done = True
    if raw.startswith("!"):
        done, raw = False, raw[1:]
    name, _, days = raw.partition(":")
    return make_event(event_type=unquote(name), within_days=days or None, done=done, where=where)


def _parse_compact_consent(raw: str, *, where: str) -> ConsentCondition:
    """``k=newsletter`` (has consented) or ``k=!newsletter`` (has not)."""
    granted = not raw.startswith(NEGATION)
    name = raw[len(NEGATION) :] if not granted else raw
    category = clean_name(unquote(name), where=where, what="consent category")
    return ConsentCondition(category=category, granted=granted)
