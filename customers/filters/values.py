"""The customer filter's vocabulary: operators, value types, and the two kinds of condition
(on a customer attribute, on events), immutable values that write themselves back to the
compact URL form and to JSON. Parsing them: :mod:`.parsing`; evaluating them: :mod:`.sql`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from access.errors import InvalidInput
from datamanager.models import AttributeType

MAX_CONDITIONS = 50
MAX_VALUE_LENGTH = 1000
MAX_NAME_LENGTH = 128
MAX_WITHIN_DAYS = 36500
BETWEEN_SEPARATOR = ".."
# Query parameters the filter owns; the list page keeps its own (sort, columns, cursor).
COMPACT_CONDITION = "c"
COMPACT_EVENT = "e"
COMPACT_GROUP = "g"
COMPACT_CONSENT = "k"
# Exponea tracks consents as events of this type; their state comes from these attributes
# (consents/selectors.py), so a consent condition filters by them (the PII rule applies).
CONSENT_EVENT = "consent"
CONSENT_STATE_ATTRIBUTES = ("action", "category", "valid_until")
# Groups nest at most this deep (a group inside a group inside a group).
MAX_GROUP_DEPTH = 3
MAX_COUNT = 1_000_000
NEGATION = "!"


class Operator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"
    GT = "gt"
    LT = "lt"
    BETWEEN = "between"

    @property
    def label(self) -> str:
        return OPERATOR_LABELS[self]

    @property
    def takes_value(self) -> bool:
        return self not in (Operator.EXISTS, Operator.NOT_EXISTS)


OPERATOR_LABELS: dict[Operator, str] = {
    Operator.EQUALS: "equals",
    Operator.NOT_EQUALS: "does not equal",
    Operator.CONTAINS: "contains",
    Operator.STARTS_WITH: "starts with",
    Operator.EXISTS: "exists",
    Operator.NOT_EXISTS: "does not exist",
    Operator.GT: "greater than",
    Operator.LT: "less than",
    Operator.BETWEEN: "between",
}

_OPERATOR_ALIASES: dict[str, Operator] = {
    "eq": Operator.EQUALS,
    "=": Operator.EQUALS,
    "==": Operator.EQUALS,
    "ne": Operator.NOT_EQUALS,
    "neq": Operator.NOT_EQUALS,
    "!=": Operator.NOT_EQUALS,
    "not_equal": Operator.NOT_EQUALS,
    "startswith": Operator.STARTS_WITH,
    "starts": Operator.STARTS_WITH,
    "does_not_exist": Operator.NOT_EXISTS,
    "not_exist": Operator.NOT_EXISTS,
    "greater_than": Operator.GT,
    ">": Operator.GT,
    "less_than": Operator.LT,
    "<": Operator.LT,
}


class ValueType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"


VALID_OPERATORS: dict[ValueType, frozenset[Operator]] = {
    ValueType.STRING: frozenset(Operator),
    ValueType.NUMBER: frozenset(Operator) - {Operator.CONTAINS, Operator.STARTS_WITH},
    ValueType.BOOLEAN: frozenset(
        {Operator.EQUALS, Operator.NOT_EQUALS, Operator.EXISTS, Operator.NOT_EXISTS}
    ),
    ValueType.DATE: frozenset(Operator) - {Operator.CONTAINS, Operator.STARTS_WITH},
}

# Catalog type -> how a condition compares values.
CATALOG_VALUE_TYPE: dict[str, ValueType] = {
    AttributeType.NUMBER: ValueType.NUMBER,
    AttributeType.BOOLEAN: ValueType.BOOLEAN,
    AttributeType.DATE: ValueType.DATE,
    AttributeType.DATETIME: ValueType.DATE,
}


_KEYWORD = re.compile(r"^[A-Za-z_<>=! -]{1,24}$")


def _echo(raw: str) -> str:
    """Quote a mistyped keyword back, unless it could be a value typed in the wrong slot."""
    return f" '{raw}'" if _KEYWORD.match(raw) else ""


def parse_operator(raw: str, *, where: str) -> Operator:
    key = raw.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return Operator(key)
    except ValueError:
        pass
    if key in _OPERATOR_ALIASES:
        return _OPERATOR_ALIASES[key]
    raise InvalidInput(f"{where}: unknown operator{_echo(raw)}.")


def parse_value_type(raw: str, *, where: str) -> ValueType:
    try:
        return ValueType(raw.strip().lower())
    except ValueError:
        raise InvalidInput(f"{where}: unknown value type{_echo(raw)}.") from None


@dataclass(frozen=True)
class Condition:
    """One condition on a customer attribute (a property or an ID name).

    ``value`` / ``value2`` are kept as the text the user typed; they are converted to the
    condition's value type when the filter is evaluated (the type may come from the
    catalog, which parsing does not read).
    """

    attribute: str
    operator: Operator
    value: str = ""
    value2: str = ""  # upper bound of ``between``
    type: ValueType | None = None  # None: from the catalog
    negate: bool = False  # "not (...)"

    @property
    def label(self) -> str:
        """A human description that names the attribute but not the value."""
        text = f"{self.attribute} {self.operator.label}"
        return f"not ({text})" if self.negate else text

    @property
    def label_with_value(self) -> str:
        """The label with the condition's own value, for showing a principal its own filter."""
        if not self.operator.takes_value:
            return self.label
        text = f"{self.attribute} {self.operator.label} {self.value}"
        if self.operator is Operator.BETWEEN:
            text = f"{text} and {self.value2}"
        return f"not ({text})" if self.negate else text

    def to_compact(self) -> str:
        attribute = (NEGATION if self.negate else "") + quote(self.attribute, safe="")
        if self.type is not None:
            attribute += f"@{self.type.value}"
        if not self.operator.takes_value:
            return f"{attribute}:{self.operator.value}"
        value = self.value
        if self.operator is Operator.BETWEEN:
            value = f"{self.value}{BETWEEN_SEPARATOR}{self.value2}"
        return f"{attribute}:{self.operator.value}:{value}"

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attribute": self.attribute, "operator": self.operator.value}
        if self.operator is Operator.BETWEEN:
            out["value"] = [self.value, self.value2]
        elif self.operator.takes_value:
            out["value"] = self.value
        if self.type is not None:
            out["type"] = self.type.value
        if self.negate:
            out["not"] = True
        return out


class CountOp(StrEnum):
    AT_LEAST = "at_least"
    AT_MOST = "at_most"
    EXACTLY = "exactly"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class EventCount:
    """How many matching events a customer must have ("at least 2 times")."""

    op: CountOp
    value: int

    def to_api(self) -> dict[str, Any]:
        return {"op": self.op.value, "value": self.value}


@dataclass(frozen=True)
class EventCondition:
    """ "Has (not) done event X": optionally only events whose attributes match ``where``
    (AND), only the last ``within_days`` days or between ``since`` and ``until`` (ISO
    dates, inclusive), and ``count`` ("at least 2 times") instead of "at least once"."""

    event_type: str
    within_days: int | None = None
    done: bool = True
    where: tuple[Condition, ...] = ()
    count: EventCount | None = None
    since: str = ""
    until: str = ""

    @property
    def is_simple(self) -> bool:
        """Expressible in the compact ``e=<type>[:<days>]`` form."""
        return not (self.where or self.count or self.since or self.until)

    @property
    def label(self) -> str:
        verb = "has done" if self.done else "has never done"
        text = f"{verb} {self.event_type}"
        if self.where:
            text += " where " + " and ".join(c.label for c in self.where)
        if self.count is not None:
            text += f" {self.count.op.label} {self.count.value} times"
        if self.within_days:
            text += f" in the last {self.within_days} days"
        if self.since or self.until:
            text += f" between {self.since or 'the start'} and {self.until or 'now'}"
        return text

    def to_compact(self) -> str:
        if not self.is_simple:
            return json.dumps(self.to_api(), separators=(",", ":"), ensure_ascii=False)
        out = ("" if self.done else "!") + quote(self.event_type, safe="")
        if self.within_days is not None:
            out += f":{self.within_days}"
        return out

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_type": self.event_type}
        if self.within_days is not None:
            out["within_days"] = self.within_days
        if not self.done:
            out["done"] = False
        if self.where:
            out["where"] = [c.to_api() for c in self.where]
        if self.count is not None:
            out["count"] = self.count.to_api()
        if self.since:
            out["since"] = self.since
        if self.until:
            out["until"] = self.until
        return out


@dataclass(frozen=True)
class ConsentCondition:
    """ "Has (not) consented to <category>": the category's latest consent event is an
    ``accept`` still valid (``valid_until`` ahead or ``unlimited``), or, for a category of
    legitimate interest, no event at all (consents/selectors.py has the same rule)."""

    category: str
    granted: bool = True

    @property
    def label(self) -> str:
        return f"{'has' if self.granted else 'has not'} consented to {self.category}"

    def to_compact(self) -> str:
        return ("" if self.granted else NEGATION) + quote(self.category, safe="")

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"category": self.category}
        if not self.granted:
            out["granted"] = False
        return out


class Match(StrEnum):
    ALL = "all"
    ANY = "any"


@dataclass(frozen=True)
class Group:
    """Conditions, event conditions and nested groups combined with AND (``all``) or OR
    (``any``), optionally negated."""

    match: Match = Match.ANY
    conditions: tuple[Condition, ...] = ()
    events: tuple[EventCondition, ...] = ()
    groups: tuple[Group, ...] = ()
    negate: bool = False
    consents: tuple[ConsentCondition, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.conditions or self.events or self.groups or self.consents)

    @property
    def size(self) -> int:
        """Conditions of every kind inside, nested ones included (for the limit)."""
        own = len(self.conditions) + len(self.events) + len(self.consents)
        return own + sum(g.size for g in self.groups)

    @property
    def label(self) -> str:
        joiner = " or " if self.match is Match.ANY else " and "
        parts = [c.label for c in self.conditions] + [e.label for e in self.events]
        parts += [k.label for k in self.consents] + [g.label for g in self.groups]
        text = "(" + joiner.join(parts) + ")"
        return f"not {text}" if self.negate else text

    def walk_conditions(self) -> list[Condition]:
        out = list(self.conditions)
        for group in self.groups:
            out += group.walk_conditions()
        return out

    def walk_events(self) -> list[EventCondition]:
        out = list(self.events)
        for group in self.groups:
            out += group.walk_events()
        return out

    def walk_consents(self) -> list[ConsentCondition]:
        out = list(self.consents)
        for group in self.groups:
            out += group.walk_consents()
        return out

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"match": self.match.value}
        if self.negate:
            out["not"] = True
        if self.conditions:
            out["conditions"] = [c.to_api() for c in self.conditions]
        if self.events:
            out["events"] = [e.to_api() for e in self.events]
        if self.consents:
            out["consents"] = [k.to_api() for k in self.consents]
        if self.groups:
            out["groups"] = [g.to_api() for g in self.groups]
        return out

    def to_compact(self) -> str:
        return json.dumps(self.to_api(), separators=(",", ":"), ensure_ascii=False)
