"""The JSON form of a customer filter (the export API's ``filter``, saved segments, and the
``g=`` / ``e={...}`` parameters of the URL form). Grammar: docs/customer-filter.md.

Every object's keys are checked: an unknown key is refused, never ignored (an ignored
``not`` or a misplaced ``attribute`` would select more customers than asked).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from access.errors import InvalidInput

from .building import clean_name, make_condition, make_count, make_event, refuse_unknown_keys
from .values import MAX_GROUP_DEPTH, Condition, ConsentCondition, EventCondition, Group, Match

CONDITION_KEYS = frozenset({"attribute", "operator", "value", "value2", "type", "not"})
EVENT_KEYS = frozenset({"event_type", "within_days", "done", "where", "count", "since", "until"})
COUNT_KEYS = frozenset({"op", "value"})
CONSENT_KEYS = frozenset({"category", "granted"})
FILTER_KEYS = frozenset({"conditions", "events", "groups", "consents"})
GROUP_KEYS = FILTER_KEYS | {"match", "not"}


def condition_from_json(item: Any, *, where: str) -> Condition:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: must be an object.")
    refuse_unknown_keys(item, CONDITION_KEYS, where=where)
    value, value2 = item.get("value", ""), item.get("value2", "")
    if isinstance(value, list):
        if len(value) != 2 or "value2" in item:
            raise InvalidInput(f"{where}: a list value must hold exactly two values.")
        value, value2 = value
    negate = item.get("not", False)
    if not isinstance(negate, bool):
        raise InvalidInput(f"{where}: 'not' must be true or false.")
    return make_condition(
        attribute=item.get("attribute"),
        operator=item.get("operator"),
        value=value,
        value2=value2,
        type_=item.get("type"),
        negate=negate,
        where=where,
        strict=True,
    )


def event_from_json(item: Any, *, where: str) -> EventCondition:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: must be an object.")
    refuse_unknown_keys(item, EVENT_KEYS, where=where)
    within = item.get("within_days")
    if not isinstance(item.get("done", True), bool):
        raise InvalidInput(f"{where}: 'done' must be true or false.")
    if within is not None and (isinstance(within, bool) or not isinstance(within, int)):
        raise InvalidInput(f"{where}: 'within_days' must be a whole number.")
    raw_where = item.get("where") or []
    if not isinstance(raw_where, list):
        raise InvalidInput(f"{where}: 'where' must be a list of attribute conditions.")
    conditions = tuple(
        condition_from_json(c, where=f"{where}, attribute condition {n}")
        for n, c in enumerate(raw_where, start=1)
    )
    raw_count = item.get("count")
    count = None
    if raw_count is not None:
        if not isinstance(raw_count, Mapping):
            raise InvalidInput(f"{where}: 'count' must be an object with 'op' and 'value'.")
        refuse_unknown_keys(raw_count, COUNT_KEYS, where=f"{where}, count")
        count = make_count(raw_count.get("op"), raw_count.get("value"), where=where)
        if count is None:
            raise InvalidInput(f"{where}: 'count' needs 'op' and 'value'.")
    return make_event(
        event_type=item.get("event_type"),
        within_days=within,
        done=item.get("done", True),
        conditions=conditions,
        count=count,
        since=item.get("since", ""),
        until=item.get("until", ""),
        where=where,
    )


def consent_from_json(item: Any, *, where: str) -> ConsentCondition:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: must be an object.")
    refuse_unknown_keys(item, CONSENT_KEYS, where=where)
    granted = item.get("granted", True)
    if not isinstance(granted, bool):
        raise InvalidInput(f"{where}: 'granted' must be true or false.")
    category = clean_name(item.get("category"), where=where, what="consent category")
    return ConsentCondition(category=category, granted=granted)


def consents_from_json(obj: Mapping[str, Any], *, where: str = "") -> tuple[ConsentCondition, ...]:
    raw = obj.get("consents")
    raw = [] if raw is None else raw
    if not isinstance(raw, list):
        raise InvalidInput(f"{where}'consents' must be a list.".lstrip())
    return tuple(
        consent_from_json(k, where=f"{where}Consent condition {n}")
        for n, k in enumerate(raw, start=1)
    )


def parts_from_json(
    obj: Mapping[str, Any], *, where: str = "", depth: int = 0
) -> tuple[tuple[Condition, ...], tuple[EventCondition, ...], tuple[Group, ...]]:
    """The ``conditions``, ``events`` and ``groups`` lists of a filter or group object."""
    lists = []
    for key in ("conditions", "events", "groups"):
        raw = obj.get(key)
        raw = [] if raw is None else raw
        if not isinstance(raw, list):
            raise InvalidInput(f"{where}'{key}' must be a list.".lstrip())
        lists.append(raw)
    prefix = f"{where}" if where else ""
    conditions = tuple(
        condition_from_json(c, where=f"{prefix}Condition {n}")
        for n, c in enumerate(lists[0], start=1)
    )
    events = tuple(
        event_from_json(e, where=f"{prefix}Event condition {n}")
        for n, e in enumerate(lists[1], start=1)
    )
    groups = tuple(
        group_from_json(g, where=f"{prefix}Group {n}", depth=depth + 1)
        for n, g in enumerate(lists[2], start=1)
    )
    return conditions, events, groups


def group_from_json(item: Any, *, where: str, depth: int = 1) -> Group:
    if depth > MAX_GROUP_DEPTH:
        raise InvalidInput(f"{where}: groups nest at most {MAX_GROUP_DEPTH} deep.")
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: must be an object.")
    refuse_unknown_keys(item, GROUP_KEYS, where=where)
    try:
        match = Match(item.get("match", Match.ANY.value))
    except ValueError:
        raise InvalidInput(f"{where}: 'match' must be 'any' or 'all'.") from None
    negate = item.get("not", False)
    if not isinstance(negate, bool):
        raise InvalidInput(f"{where}: 'not' must be true or false.")
    conditions, events, groups = parts_from_json(item, where=f"{where}, ", depth=depth)
    consents = consents_from_json(item, where=f"{where}, ")
    group = Group(
        match=match,
        conditions=conditions,
        events=events,
        groups=groups,
        negate=negate,
        consents=consents,
    )
    if group.is_empty:
        raise InvalidInput(f"{where}: the group has no conditions.")
    return group


def loads(raw: str, *, where: str) -> Any:
    """A JSON parameter of the URL form (``g=...``, ``e={...}``), with a clear error."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput(f"{where}: not valid JSON.") from None
