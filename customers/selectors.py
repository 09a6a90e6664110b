"""Reads about customers shared by the UI, the API and tasks; always scoped to a project."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet

from access.errors import NotFound
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from datamanager.models import AttributeKind, CustomerAttribute, EventType

from .models import Customer, CustomerId, CustomerListPreference, Event


def id_names(project: Project) -> dict[str, bool]:
    """The project's customer ID names, each mapped to whether it is a hard ID."""
    return dict(
        CustomerAttribute.objects.filter(project=project, kind=AttributeKind.ID).values_list(
            "name", "hard"
        )
    )


def customers_for(principal: Principal) -> QuerySet[Customer]:
    """The customers the principal may read: those of its project, if it may view customers."""
    principal.require(Perm.VIEW_CUSTOMERS)
    return Customer.objects.filter(project=principal.project)


# Which customer IDs name --------------------------------------------------------------------

IdKey = tuple[str, str]


def id_owners(principal: Principal, keys: Iterable[IdKey]) -> dict[IdKey, int]:
    """Map each given ``(name, value)`` that exists in the principal's project to its
    customer's id: one query for any number of keys (one condition per ID name).

    The one ID lookup: the API's reads, single and bulk anonymization and tracking (its
    batch path has a PostgreSQL statement for the same question) all start here.
    """
    by_name: dict[str, set[str]] = {}
    for name, value in keys:
        by_name.setdefault(name, set()).add(value)
    if not by_name:
        return {}
    condition = Q()
    for name, values in sorted(by_name.items()):
        condition |= Q(name=name, value__in=sorted(values))
    rows = CustomerId.objects.filter(condition, project=principal.project).values_list(
        "name", "value", "customer_id"
    )
    return {(name, value): customer_id for name, value, customer_id in rows}


def id_owner_pick(owners: Mapping[IdKey, int], hard: Mapping[str, bool]) -> int | None:
    """The customer that IDs name, among the customers ``owners`` maps them to.

    The one tie-break: the customer holding the first hard ID (by ID name) wins; with soft
    IDs only, the lowest internal id wins, which is where tracking merges the others. So a
    lookup, an anonymization (single or bulk) and tracking pick the same customer.
    """
    hard_owners = sorted((name, pk) for (name, _), pk in owners.items() if hard.get(name))
    if hard_owners:
        return hard_owners[0][1]
    return min(owners.values(), default=None)


def customer_pks_for_ids(
    principal: Principal, ids_list: Sequence[Mapping[str, str]]
) -> list[int | None]:
    """:func:`customer_pk_for_ids` for many requests at once, by position (``None``: no
    customer); two queries whatever their number. The caller has required its permission
    (view, anonymize or track); this scopes to the principal's project."""
    hard = id_names(principal.project)
    owners = id_owners(principal, (key for ids in ids_list for key in ids.items()))
    return [
        id_owner_pick({key: owners[key] for key in ids.items() if key in owners}, hard)
        for ids in ids_list
    ]


def customer_pk_for_ids(principal: Principal, ids: Mapping[str, str]) -> int | None:
    """The internal id of the customer the IDs name in the principal's project, or None."""
    return customer_pks_for_ids(principal, [ids])[0]


def customer_for_ids(principal: Principal, ids: Mapping[str, str]) -> Customer:
    """The customer the IDs name, among those the principal may read; else :class:`NotFound`."""
    pk = customer_pk_for_ids(principal, ids)
    customer = None if pk is None else customers_for(principal).filter(pk=pk).first()
    if customer is None:
        raise NotFound("Customer not found.")
    return customer


def customer_get(principal: Principal, customer_pk: int | str) -> Customer:
    """A customer of the principal's project by internal id; 404 for any other project."""
    try:
        return customers_for(principal).get(pk=customer_pk)
    except (Customer.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("Customer not found.") from exc


def ids_of_customers(customer_pks: Iterable[int]) -> dict[int, dict[str, list[str]]]:
    """External IDs per customer, as ``{customer_pk: {name: [values]}}``, in one query."""
    out: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for customer_id, name, value in (
        CustomerId.objects.filter(customer_id__in=list(customer_pks))
        .order_by("customer_id", "name", "id")
        .values_list("customer_id", "name", "value")
    ):
        out[customer_id][name].append(value)
    return {pk: dict(v) for pk, v in out.items()}


def ids_of_customer_chunk(
    project_id: int, customer_pks: list[int]
) -> dict[int, dict[str, list[str]]]:
    """:func:`ids_of_customers` for a chunk of an export, in one query.

    When the chunk's ids are dense (at most twice as wide as the chunk) the IDs are read
    by ``customer_id BETWEEN first AND last`` and the few outsiders dropped here: Django
    spent more time building an ``IN`` of 2,000 parameters than PostgreSQL running it.
    Sparse chunks (a narrow filter) keep the ``IN`` list.
    """
    if not customer_pks:
        return {}
    low, high = min(customer_pks), max(customer_pks)
    if high - low + 1 > 2 * len(customer_pks):
        return ids_of_customers(customer_pks)
    wanted = set(customer_pks)
    out: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for customer_id, name, value in (
        CustomerId.objects.filter(
            project_id=project_id, customer_id__gte=low, customer_id__lte=high
        )
        .order_by("customer_id", "name", "id")
        .values_list("customer_id", "name", "value")
    ):
        if customer_id in wanted:
            out[customer_id][name].append(value)
    return {pk: dict(v) for pk, v in out.items()}


# The customer filter and profile pages ---------------------------------------------------

# Above this many estimated rows the list shows "about N" instead of counting exactly.
EXACT_COUNT_LIMIT = 20_000


@dataclass(frozen=True)
class AttributeInfo:
    """A customer attribute as the list and profile pages need it (from the catalog)."""

    name: str
    is_id: bool
    type: str
    pii: bool


def customer_attributes(project: Project) -> list[AttributeInfo]:
    """The project's customer ID names (hard IDs first) and properties, in one query."""
    return [
        AttributeInfo(name=name, is_id=kind == AttributeKind.ID, type=type_, pii=pii)
        for name, kind, type_, pii in CustomerAttribute.objects.filter(project=project)
        .order_by("kind", "-hard", "name")
        .values_list("name", "kind", "type", "pii")
    ]


def event_type_names(project: Project) -> list[str]:
    """Names of the project's event types (for the "has done event" filter)."""
    return list(
        EventType.objects.filter(project=project).order_by("name").values_list("name", flat=True)
    )


def event_types_with_attributes(project: Project) -> list[tuple[str, list[str]]]:
    """Every event type of the project with its attribute names, sorted (one query: the
    builder's event type list and its "where" attributes)."""
    by_type: dict[str, list[str]] = {}
    rows = (
        EventType.objects.filter(project=project)
        .order_by("name", "attributes__name")
        .values_list("name", "attributes__name")
    )
    for type_name, name in rows:
        names = by_type.setdefault(type_name, [])
        if name is not None:
            names.append(name)
    return list(by_type.items())


def customer_list_columns(principal: Principal) -> list[str] | None:
    """The attribute columns the principal's user chose for the list, or None if never chosen."""
    if principal.user is None:
        return None
    columns = (
        CustomerListPreference.objects.filter(project=principal.project, user=principal.user)
        .values_list("columns", flat=True)
        .first()
    )
    return list(columns) if isinstance(columns, list) else None


def estimated_row_count(queryset: QuerySet[Any]) -> int | None:
    """The planner's row estimate for ``queryset`` on PostgreSQL; None elsewhere.

    The one vendor-specific piece of the list's total: ``EXPLAIN (FORMAT JSON)`` costs
    a plan, not a scan, so it stays fast whatever the table size.
    """
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


@dataclass(frozen=True)
class Total:
    """How many customers match: exact, or the planner's estimate when counting is costly."""

    value: int
    exact: bool

    @property
    def label(self) -> str:
        if self.exact:
            return f"{self.value:,}"
        return f"about {humanize_count(self.value)}"


def humanize_count(value: int) -> str:
    """1234 -> '1.2 K', 1_234_567 -> '1.2 M'."""
    for threshold, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if value >= threshold:
            return f"{value / threshold:.1f} {suffix}".replace(".0 ", " ")
    return str(value)


def customer_total(queryset: QuerySet[Customer], *, limit: int = EXACT_COUNT_LIMIT) -> Total:
    """Exact count when the estimate says it is cheap (or no estimate exists), else estimate."""
    estimate = estimated_row_count(queryset)
    if estimate is not None and estimate > limit:
        return Total(value=estimate, exact=False)
    return Total(value=queryset.order_by().count(), exact=True)


def customer_event_type_counts(customer: Customer) -> list[tuple[str, int]]:
    """The event types a customer has, with how many of each, sorted by type name.

    Two queries: the events are grouped by ``event_type_id`` (a hash of a few groups) and
    the few types are named afterwards. Grouping the joined rows by name sorted all of
    them: 62 -> 22 ms for a customer with 10,000 events.
    """
    counts = dict(
        Event.objects.filter(customer=customer)
        .values_list("event_type_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    if not counts:
        return []
    # Ordered by the database, so the names sort by its collation as before.
    types = EventType.objects.filter(pk__in=list(counts)).order_by("name").values_list("pk", "name")
    return [(name, counts[pk]) for pk, name in types]


def customer_events_page(
    customer: Customer,
    *,
    event_type: str | None = None,
    before: tuple[dt.datetime, int] | None = None,
    limit: int = 25,
) -> tuple[list[Event], bool]:
    """One page of a customer's timeline, newest first, keyset-paginated by (timestamp, id).

    Returns the events and whether older ones exist. One query (the event type is joined).
    """
    events = Event.objects.filter(customer=customer).select_related("event_type")
    if event_type:
        events = events.filter(event_type__name=event_type)
    if before is not None:
        ts, pk = before
        events = events.filter(Q(timestamp__lt=ts) | Q(timestamp=ts, id__lt=pk))
    rows = list(events.order_by("-timestamp", "-id")[: limit + 1])
    return rows[:limit], len(rows) > limit
