"""Evaluating a customer filter: the filter as one ``Q`` on customers, with the one piece of
vendor-specific SQL (:class:`JsonTypedValue`), and :func:`customers_matching`, the filter
applied for a principal (PII refused first).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import NotSupportedError
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import compile_json_path  # type: ignore[attr-defined]
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from access.errors import InvalidInput
from access.principal import Principal
from consents.models import ConsentCategory
from datamanager.masking import Masker
from datamanager.models import AttributeKind, CustomerAttribute, EventAttribute, EventType

from ..models import Customer, CustomerId, Event
from ..selectors import customers_for
from .parsing import CustomerFilter
from .search import indexed_property_q
from .values import (
    CATALOG_VALUE_TYPE,
    CONSENT_EVENT,
    VALID_OPERATORS,
    Condition,
    ConsentCondition,
    CountOp,
    EventCondition,
    Group,
    Match,
    Operator,
    ValueType,
)


class JsonTypedValue(Func):
    """``properties[key]`` as a SQL number, text or boolean; NULL when stored as another type.

    The one vendor-specific piece of the filter. Django's JSON key lookups compare across
    JSON types differently on SQLite and PostgreSQL (a stored string is "greater" than any
    number on SQLite and "less" on PostgreSQL), so comparisons go through this instead.
    """

    _OUTPUT = {
        ValueType.NUMBER: FloatField,
        ValueType.STRING: TextField,
        ValueType.DATE: TextField,
        ValueType.BOOLEAN: BooleanField,
    }
    _SQLITE_TYPES = {
        ValueType.NUMBER: "'integer', 'real'",
        ValueType.STRING: "'text'",
        ValueType.DATE: "'text'",
        ValueType.BOOLEAN: "'true', 'false'",
    }
    _PG_TYPES = {
        ValueType.NUMBER: ("number", "::double precision"),
        ValueType.STRING: ("string", ""),
        ValueType.DATE: ("string", ""),
        ValueType.BOOLEAN: ("boolean", "::boolean"),
    }

    def __init__(self, key: str, value_type: ValueType, *, field_name: str = "properties") -> None:
        super().__init__(F(field_name), output_field=self._OUTPUT[value_type]())
        self.key = key
        self.value_type = value_type

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        path = compile_json_path([self.key])
        types = self._SQLITE_TYPES[self.value_type]
        sql = (
            f"(CASE WHEN json_type({column}, %s) IN ({types}) THEN json_extract({column}, %s) END)"
        )
        return sql, (*params, path, *params, path)

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        json_type, cast = self._PG_TYPES[self.value_type]
        sql = (
            f"(CASE WHEN jsonb_typeof({column} -> %s) = '{json_type}' "
            f"THEN ({column} ->> %s){cast} END)"
        )
        return sql, (*params, self.key, *params, self.key)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        raise NotSupportedError("The customer filter supports SQLite and PostgreSQL.")


class EventNumber(JsonTypedValue):
    """An event attribute's number: on PostgreSQL ``filter_json_number(properties, key)``
    (migration ``customers/0010``), NULL rather than an error for a number out of double
    precision's range, and the expression of the attribute's filter index when it has one
    (``datamanager/event_indexes.py``). SQLite: :class:`JsonTypedValue`."""

    def __init__(self, key: str) -> None:
        super().__init__(key, ValueType.NUMBER)

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        return f"filter_json_number({column}, %s)", (*params, self.key)


class JsonArrayHas(Func):
    """``properties[key]`` is a JSON list holding the string ``value`` ("list contains").

    PostgreSQL: ``col @> {key: [value]}`` (the GIN index on properties answers it).
    SQLite: ``EXISTS (SELECT 1 FROM json_each(col, path) WHERE type = 'text' AND value =
    value)`` over the list's elements (only when the stored value is an array).
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, key: str, value: str) -> None:
        super().__init__(F("properties"))
        self.key = key
        self.value = value

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        path = compile_json_path([self.key])
        # Only the compiled column is interpolated; the path and the value are parameters.
        sql = (
            f"(json_type({column}, %s) = 'array' AND EXISTS (SELECT 1 FROM "  # noqa: S608
            f"json_each({column}, %s) AS item WHERE item.type = 'text' AND item.value = %s))"
        )
        return sql, (*params, path, *params, path, self.value)

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        # ``col @> {key: [value]}``: true exactly when col[key] is an array holding the
        # string (an object's scalar never contains an array), and written on the whole
        # column so the GIN jsonb_path_ops index answers it (customers/0006); "contains"
        # ORs this with the text match, and a BitmapOr needs an index on both sides.
        document = json.dumps({self.key: [self.value]}, ensure_ascii=False)
        return f"({column} @> %s::jsonb)", (*params, document)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        raise NotSupportedError("The customer filter supports SQLite and PostgreSQL.")


@dataclass(frozen=True)
class _Resolved:
    """What the catalog says about an attribute: is it an ID name, and its value type."""

    is_id: bool
    value_type: ValueType | None


def _catalog_info(project_id: int, names: Iterable[str]) -> dict[str, _Resolved]:
    out: dict[str, _Resolved] = {}
    names = list(names)
    if not names:
        return out
    for name, kind, type_ in CustomerAttribute.objects.filter(
        project_id=project_id, name__in=names
    ).values_list("name", "kind", "type"):
        out[name] = _Resolved(
            is_id=kind == AttributeKind.ID, value_type=CATALOG_VALUE_TYPE.get(type_)
        )
    return out


def _infer_type(value: str) -> ValueType:
    if value.lower() in ("true", "false"):
        return ValueType.BOOLEAN
    try:
        float(value)
        return ValueType.NUMBER
    except ValueError:
        return ValueType.STRING


def _convert(value: str, value_type: ValueType, *, where: str, name: str) -> Any:
    """The typed comparison value; the error never repeats the value (it may be PII)."""
    if value_type is ValueType.NUMBER:
        try:
            number = float(Decimal(value))
        except (InvalidOperation, ValueError):
            raise InvalidInput(f"{where}: the value for '{name}' must be a number.") from None
        if not math.isfinite(number):
            raise InvalidInput(f"{where}: the value for '{name}' must be a finite number.")
        return number
    if value_type is ValueType.BOOLEAN:
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise InvalidInput(f"{where}: the value for '{name}' must be true or false.")
    if value_type is ValueType.DATE:
        return _normalize_date(value, where=where, name=name)
    return value


def _normalize_date(value: str, *, where: str, name: str) -> str:
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value).isoformat()
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise InvalidInput(
            f"{where}: the value for '{name}' must be a date (YYYY-MM-DD or ISO 8601)."
        ) from None


def _next_day(value: str, *, where: str, name: str) -> str | None:
    """For a plain date, the following day (so 'until 2024-12-31' includes that whole day)."""
    if len(value) != 10:
        return None
    day = dt.date.fromisoformat(value)
    if day >= dt.date.max:
        # The day after 9999-12-31 does not exist (OverflowError, a 500 before).
        raise InvalidInput(f"{where}: the date for '{name}' must be before 9999-12-31.")
    return (day + dt.timedelta(days=1)).isoformat()


def _property_q(
    condition: Condition, value_type: ValueType, *, where: str, customer: bool = True
) -> Q:
    """A condition on a JSON ``properties`` key: the customer's, or (``customer=False``,
    inside an event subquery) the event's."""
    name, op = condition.attribute, condition.operator
    if op is Operator.EXISTS:
        return Q(properties__has_key=name)
    if op is Operator.NOT_EXISTS:
        return ~Q(properties__has_key=name)
    expr = (
        JsonTypedValue(name, value_type)
        if customer or value_type is not ValueType.NUMBER
        else EventNumber(name)
    )
    value = _convert(condition.value, value_type, where=where, name=name)
    # PostgreSQL: equality, contains and prefix in SQL the indexes answer (search.py).
    indexed = indexed_property_q(name, op, value_type, value) if customer else None
    if op is Operator.CONTAINS:
        # A string containing the text, or a list holding it as one of its elements.
        text = indexed if indexed is not None else Q(_cmp(expr, "icontains", value))
        return text | Q(JsonArrayHas(name, value))
    if indexed is not None:
        return indexed
    if op is Operator.EQUALS:
        return Q(_cmp(expr, "exact", value))
    if op is Operator.NOT_EQUALS:
        return Q(_cmp(expr, "isnull", True)) | ~Q(_cmp(expr, "exact", value))
    if op is Operator.STARTS_WITH:
        return Q(_cmp(expr, "istartswith", value))
    if op is Operator.GT:
        after = _next_day(value, where=where, name=name) if value_type is ValueType.DATE else None
        return Q(_cmp(expr, "gte", after)) if after else Q(_cmp(expr, "gt", value))
    if op is Operator.LT:
        return Q(_cmp(expr, "lt", value))
    # BETWEEN, inclusive on both ends.
    high = _convert(condition.value2, value_type, where=where, name=name)
    upper = _next_day(high, where=where, name=name) if value_type is ValueType.DATE else None
    high_q = Q(_cmp(expr, "lt", upper)) if upper else Q(_cmp(expr, "lte", high))
    return Q(_cmp(expr, "gte", value)) & high_q


def _cmp(expr: Func, lookup: str, value: Any) -> Any:
    """A lookup on an expression (Django builds ``Lookup`` objects from a registered name)."""
    lookup_class = expr.output_field.get_lookup(lookup)
    assert lookup_class is not None, lookup
    return lookup_class(expr, value)


def _id_q(condition: Condition, *, project_id: int, where: str) -> Q:
    """Conditions on an ID name: is there an ID of that name whose value matches."""
    name, op = condition.attribute, condition.operator
    ids = CustomerId.objects.filter(project_id=project_id, customer_id=OuterRef("pk"), name=name)
    if op is Operator.EXISTS:
        return Q(Exists(ids))
    if op is Operator.NOT_EXISTS:
        return ~Q(Exists(ids))
    value = condition.value
    lookups: dict[Operator, Q] = {
        Operator.EQUALS: Q(value=value),
        Operator.NOT_EQUALS: Q(value=value),
        Operator.CONTAINS: Q(value__icontains=value),
        Operator.STARTS_WITH: Q(value__istartswith=value),
        Operator.GT: Q(value__gt=value),
        Operator.LT: Q(value__lt=value),
        Operator.BETWEEN: Q(value__gte=value, value__lte=condition.value2),
    }
    matching = Exists(ids.filter(lookups[op]))
    return ~Q(matching) if op is Operator.NOT_EQUALS else Q(matching)


def negated(q: Q) -> Q:
    """The complement of ``q``: ``CASE WHEN q THEN true ELSE false END = false``, so a row
    for which ``q`` is NULL (an attribute it does not have) is in the complement too."""
    case = Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())
    return Q(Exact(case, False))


def _value_type(condition: Condition, known: ValueType | None, *, where: str) -> ValueType:
    if condition.type is not None:
        value_type = condition.type
    elif known is not None:  # the catalog knows it: its type decides
        value_type = known
    elif condition.operator.takes_value:  # never tracked: guess from the value
        value_type = _infer_type(condition.value)
    else:
        value_type = ValueType.STRING
    if condition.operator not in VALID_OPERATORS[value_type]:
        raise InvalidInput(
            f"{where}: '{condition.operator.label}' cannot be used on "
            f"'{condition.attribute}' ({value_type.value} values)."
        )
    return value_type


def _day_start(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=dt.UTC)


_COUNT_LOOKUPS = {
    CountOp.AT_LEAST: GreaterThanOrEqual,
    CountOp.AT_MOST: LessThanOrEqual,
    CountOp.EXACTLY: Exact,
}


@dataclass
class _Compiler:
    """Turns a filter's tree into one ``Q``, with the catalog read once up front."""

    project_id: int
    customer_info: dict[str, _Resolved]
    event_types: dict[str, int]
    event_attribute_types: dict[tuple[str, str], ValueType | None]
    legitimate_interest: frozenset[str] = frozenset()

    @classmethod
    def for_filter(cls, customer_filter: CustomerFilter, *, project_id: int) -> _Compiler:
        names = customer_filter.event_types
        types = dict(
            EventType.objects.filter(project_id=project_id, name__in=names).values_list(
                "name", "pk"
            )
        )
        attribute_types: dict[tuple[str, str], ValueType | None] = {}
        wanted = customer_filter.event_attributes
        if wanted:
            rows = EventAttribute.objects.filter(
                event_type__project_id=project_id, event_type__name__in=list(wanted)
            ).values_list("event_type__name", "name", "type")
            for type_name, name, type_ in rows:
                attribute_types[(type_name, name)] = CATALOG_VALUE_TYPE.get(type_, ValueType.STRING)
        legitimate: frozenset[str] = frozenset()
        categories = sorted({k.category for k in customer_filter.all_consents})
        if categories:
            legitimate = frozenset(
                ConsentCategory.objects.filter(
                    project_id=project_id, name__in=categories, legitimate_interest=True
                ).values_list("name", flat=True)
            )
        return cls(
            project_id=project_id,
            customer_info=_catalog_info(project_id, customer_filter.attribute_names),
            event_types=types,
            event_attribute_types=attribute_types,
            legitimate_interest=legitimate,
        )

    def consent(self, consent: ConsentCondition) -> Q:
        """The category's latest consent event is a valid ``accept``: ``valid_until`` is
        ``unlimited``, a number of seconds ahead of now, or an ISO time ahead of now (as
        UTC text); a legitimate-interest category with no event counts as granted."""
        type_id = self.event_types.get(CONSENT_EVENT)
        if type_id is None:  # no consent was ever tracked
            granted: Q = Q() if consent.category in self.legitimate_interest else Q(pk__in=[])
            return granted if consent.granted else negated(granted)
        of_category = Event.objects.filter(
            event_type_id=type_id, properties__category=consent.category
        )
        latest = (
            of_category.filter(customer_id=OuterRef(OuterRef("pk")))
            .order_by("-timestamp", "-id")
            .values("pk")[:1]
        )
        now = timezone.now()
        until_ok = (
            Q(properties__valid_until="unlimited")
            | Q(_cmp(JsonTypedValue("valid_until", ValueType.NUMBER), "gt", now.timestamp()))
            | Q(_cmp(JsonTypedValue("valid_until", ValueType.STRING), "gt", now.isoformat()))
        )
        valid = Event.objects.filter(pk=Subquery(latest), properties__action="accept")
        granted = Q(Exists(valid.filter(until_ok)))
        if consent.category in self.legitimate_interest:
            granted |= ~Q(Exists(of_category.filter(customer_id=OuterRef("pk"))))
        return granted if consent.granted else negated(granted)

    def condition(self, condition: Condition, *, where: str) -> Q:
        resolved = self.customer_info.get(condition.attribute)
        if resolved is not None and resolved.is_id:
            q = _id_q(condition, project_id=self.project_id, where=where)
        else:
            known = None
            if resolved is not None:
                known = resolved.value_type or ValueType.STRING
            value_type = _value_type(condition, known, where=where)
            q = _property_q(condition, value_type, where=where)
        return negated(q) if condition.negate else q

    def event(self, event: EventCondition, *, where: str) -> Q:
        # The type's id is looked up first and passed as a literal: behind a subquery on
        # the name the planner cannot use the type's statistics and guessed 15 k instead
        # of 145 k purchasers, so the list ran an exact COUNT (1.3 s CPU at 1 M
        # customers); with the id it estimates right and skips the count (90 ms). An
        # unknown type keeps the subquery (it matches nothing): an empty id list would
        # make the query uncompilable (EmptyResultSet) for callers that take its SQL (the
        # estimate, the anonymization INSERT ... SELECT).
        type_id = self.event_types.get(event.event_type)
        type_filter: Any = (
            [type_id]
            if type_id is not None
            else EventType.objects.filter(project_id=self.project_id, name=event.event_type).values(
                "pk"
            )
        )
        events = Event.objects.filter(customer_id=OuterRef("pk"), event_type_id__in=type_filter)
        if event.within_days is not None:
            events = events.filter(
                timestamp__gte=timezone.now() - dt.timedelta(days=event.within_days)
            )
        if event.since:
            events = events.filter(timestamp__gte=_day_start(event.since))
        if event.until:
            events = events.filter(timestamp__lt=_day_start(event.until) + dt.timedelta(days=1))
        for n, condition in enumerate(event.where, start=1):
            here = f"{where}, attribute condition {n}"
            known = self.event_attribute_types.get((event.event_type, condition.attribute))
            value_type = _value_type(condition, known, where=here)
            q = _property_q(condition, value_type, where=here, customer=False)
            events = events.filter(negated(q) if condition.negate else q)
        if event.count is None or (event.count.op is CountOp.AT_LEAST and event.count.value <= 1):
            if event.count is not None and event.count.value == 0:
                return Q()  # at least 0 times: everyone
            return Q(Exists(events)) if event.done else ~Q(Exists(events))
        counted = events.order_by().values("customer_id").annotate(n=Count("pk")).values("n")
        number = Coalesce(Subquery(counted), Value(0))
        return Q(_COUNT_LOOKUPS[event.count.op](number, event.count.value))

    def group(self, group: Group, *, where: str) -> Q:
        parts = [
            self.condition(c, where=f"{where}, condition {n}")
            for n, c in enumerate(group.conditions, start=1)
        ]
        parts += [
            self.event(e, where=f"{where}, event condition {n}")
            for n, e in enumerate(group.events, start=1)
        ]
        parts += [self.consent(k) for k in group.consents]
        parts += [
            self.group(g, where=f"{where}, group {n}") for n, g in enumerate(group.groups, start=1)
        ]
        q = parts[0]
        for part in parts[1:]:
            q = q | part if group.match is Match.ANY else q & part
        return negated(q) if group.negate else q


def filter_q(customer_filter: CustomerFilter, *, project_id: int) -> Q:
    """The filter as one ``Q`` on :class:`Customer` (reads the catalog once). No PII check:
    callers go through :func:`customers_matching`."""
    compiler = _Compiler.for_filter(customer_filter, project_id=project_id)
    q = Q()
    for position, condition in enumerate(customer_filter.conditions, start=1):
        q &= compiler.condition(condition, where=f"Condition {position}")
    for position, event in enumerate(customer_filter.events, start=1):
        q &= compiler.event(event, where=f"Event condition {position}")
    for position, group in enumerate(customer_filter.groups, start=1):
        q &= compiler.group(group, where=f"Group {position}")
    for consent in customer_filter.consents:
        q &= compiler.consent(consent)
    return q


def estimate_is_reliable(customer_filter: CustomerFilter) -> bool:
    """False when the planner's row estimate for the filter is a default guess: an event
    condition with attribute conditions (a JSON expression on the events' properties, no
    statistics: 0.5 % of the events for equality, a third for a range) or a count (a third
    of the customers, whatever the threshold). The list does not show such an estimate
    nor pay an exact count for it (``customers.listing.list_total``)."""
    for event in customer_filter.all_events:
        if event.where:
            return False
        if event.count is not None and not (
            event.count.op is CountOp.AT_LEAST and event.count.value <= 1
        ):
            return False
    return True


def check_filter_allowed(
    principal: Principal, customer_filter: CustomerFilter, *, masker: Masker | None = None
) -> None:
    """Raise ``PiiFieldRefused`` if the filter uses a PII attribute the principal may not see."""
    masker = masker or Masker.for_principal(principal)
    masker.check_customer_fields(customer_filter.attribute_names, usage="filter by")
    for event_type, names in customer_filter.event_attributes.items():
        masker.check_event_fields(event_type, names, usage="filter by")


def customers_matching(
    principal: Principal, customer_filter: CustomerFilter, *, masker: Masker | None = None
) -> QuerySet[Customer]:
    """The principal's customers that match the filter (unordered, lazily evaluated).

    Scoped to the principal's project (and its view permission) through
    :func:`~customers.selectors.customers_for`. A condition on a PII attribute by a
    principal without Personal data raises :class:`~access.errors.PiiFieldRefused` before
    any query touches customer data. Pass the request's ``masker`` to save its queries.
    """
    customers = customers_for(principal)
    if customer_filter.is_empty:
        return customers
    check_filter_allowed(principal, customer_filter, masker=masker)
    return customers.filter(filter_q(customer_filter, project_id=principal.project.pk))
