"""Anonymization, the operation: what anonymizing customers does, on every path (profile,
API, bulk job, command line, erasure replay).

What anonymizing a customer means (as Exponea, made exact), for each customer, in one
transaction: every PII property is removed; **all** external IDs are removed and one fresh
random ``cookie`` is assigned; the PII attributes of each event type are removed from the
customer's events; ``anonymized_at`` is set; one ``anonymization`` system event (with its
``source``) and one audit event (internal ids only) are written. Non-PII properties and the
events themselves stay. An already anonymized customer is skipped: nothing changes and no
second event is tracked.

The work is set-based: a chunk of customers costs a constant number of statements (one
per table), never a statement per customer or per event. The only vendor-specific SQL is in
:mod:`.anonymization_sql` (:class:`~.anonymization_sql.JsonWithoutKeys`: PostgreSQL
``jsonb - text[]``, SQLite ``json_remove``).

Bulk work runs as a job (:mod:`.anonymization_jobs`: create, step, resume), which calls
:func:`customer_anonymize` once per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, JSONField, Q, When
from django.utils import timezone

from access.errors import InvalidInput, NotFound
from access.models import AuditEvent
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from datamanager.catalog import PiiCatalog, catalog_load, catalog_lock
from datamanager.models import EventType
from datamanager.services import catalog_register_seen

from ..models import AnonymizationJob, AnonymizationJobItem, Customer, CustomerId, Event
from ..selectors import customer_pk_for_ids
from .anonymization_sql import (
    IdIn,
    JsonWithoutKeys,
    events_with_any_key,
    insert_per_customer,
    random_token_sql,
)
from .erasure_ledger import erasure_ledger_record
from .erasure_receipt import erasure_check_and_receipts
from .legal_hold import CustomerOnHold, held_customer_pks
from .tracking import StaleRead, lock_customers, run_retrying

SYSTEM_EVENT_TYPE = "anonymization"
NEW_COOKIE_NAME = "cookie"
SOURCES = frozenset(AnonymizationJob.Source.values)
DEFAULT_CHUNK_SIZE = 1000


def chunk_size() -> int:
    """Customers per chunk (one transaction each); small enough to stay well under a minute."""
    return int(getattr(settings, "ANONYMIZATION_CHUNK_SIZE", DEFAULT_CHUNK_SIZE))


# The service ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What to remove in one project, read fresh from the catalog (never a stale cache)."""

    catalog: PiiCatalog
    event_keys: Mapping[int, tuple[str, ...]]  # event type id -> PII attribute names
    system_event_type_id: int


def _plan_for(actor: Principal, source: str) -> _Plan:
    """The plan, read under the project's catalog lock (shared) that flag saves take
    exclusively: called after the customers are locked, it is the catalog as committed,
    and no flag can be saved until this transaction ends (docs/architecture.md)."""
    project = actor.project
    catalog_lock(project.pk, exclusive=False)
    catalog = catalog_load(project.pk)
    # Registers the system event type if an old project lacks it; constant queries.
    types = catalog_register_seen(project=project, events={SYSTEM_EVENT_TYPE: {"source": source}})
    names_by_type = {name: keys for name, keys in catalog.event_attributes.items() if keys}
    type_ids = dict(
        EventType.objects.filter(project=project, name__in=list(names_by_type)).values_list(
            "name", "pk"
        )
    )
    event_keys = {
        type_ids[name]: tuple(sorted(keys))
        for name, keys in names_by_type.items()
        if name in type_ids
    }
    return _Plan(
        catalog=catalog,
        event_keys=event_keys,
        system_event_type_id=types[SYSTEM_EVENT_TYPE].pk,
    )


def anonymization_source_clean(source: str) -> str:
    """``source`` if it is one of the job sources, else :class:`InvalidInput`."""
    if source not in SOURCES:
        raise InvalidInput(f"Unknown anonymization source '{source}'.")
    return source


def _anonymize_chunk(
    *,
    actor: Principal,
    plan_after_lock: Callable[[], _Plan],
    customer_pks: Sequence[int],
    source: str,
    job: AnonymizationJob | None,
) -> list[int]:
    """Anonymize one chunk inside the caller's transaction; returns the ids anonymized now."""
    project = actor.project
    # Lock the customers (skipping the already anonymized) so a concurrent run of the same
    # chunk waits here and then finds nothing left to do: exactly one event per customer.
    pks = _customers_lock(project, customer_pks, anonymized=False)
    if not pks:
        return []
    # Legal hold (read with the customers locked, as a hold is placed): one customer asked
    # for is refused; a job skips them and its items say so.
    held = held_customer_pks(project, pks)
    if held:
        if job is None:
            raise CustomerOnHold(held)
        AnonymizationJobItem.objects.filter(job=job, customer_id__in=sorted(held)).update(held=True)
        pks = [pk for pk in pks if pk not in held]
        if not pks:
            return []
    plan = plan_after_lock()  # the catalog as committed now, locked against flag saves
    now = timezone.now()
    pii_properties = plan.catalog.customer_properties
    # Outside the database, so a restored backup cannot bring these customers back.
    erasure_ledger_record(project=project, customer_pks=pks, source=source)
    # While the values are still there: leftovers in what stays, suppressed hard IDs, and
    # one receipt per customer (names and counts only).
    erasure_check_and_receipts(
        actor=actor,
        customer_pks=pks,
        catalog=plan.catalog,
        event_keys=plan.event_keys,
        source=source,
        job=job,
        now=now,
    )

    Customer.objects.filter(IdIn("pk", pks)).update(
        properties=JsonWithoutKeys("properties", pii_properties),
        property_timestamps=JsonWithoutKeys("property_timestamps", pii_properties),
        anonymized_at=now,
        updated_at=now,
    )

    CustomerId.objects.filter(IdIn("customer_id", pks)).delete()
    # The new IDs, events and audit rows are INSERT ... SELECT over the chunk's customers:
    # one statement each, no Python object per row.
    insert_per_customer(
        CustomerId,
        {
            "project_id": "%s",
            "customer_id": "id",
            "name": "%s",
            "value": random_token_sql(),
            "created_at": "%s",
        },
        [project.pk, NEW_COOKIE_NAME, now],
        pks,
    )
    _events_strip(plan, pks)
    insert_per_customer(
        Event,
        {
            "project_id": "%s",
            "customer_id": "id",
            "event_type_id": "%s",
            "timestamp": "%s",
            "properties": "%s",
        },
        [project.pk, plan.system_event_type_id, now, {"source": source}],
        pks,
    )
    _audit_per_customer(actor, pks, action="customer.anonymize", source=source, job=job, now=now)
    return pks


def _customers_lock(project: Any, pks: Sequence[int], *, anonymized: bool) -> list[int]:
    """Lock those of ``pks`` that are (``anonymized``) or are not anonymized yet, in
    ascending id order as every writer does (docs/architecture.md); returns their ids."""
    return list(
        Customer.objects.select_for_update()
        .filter(IdIn("pk", pks), project=project, anonymized_at__isnull=not anonymized)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _events_strip(plan: _Plan, pks: Sequence[int]) -> None:
    """Remove the plan's PII attributes from the events of customers ``pks`` (one UPDATE)."""
    if not plan.event_keys:
        return
    all_keys = sorted({k for keys in plan.event_keys.values() for k in keys})
    Event.objects.filter(
        events_with_any_key(all_keys),
        IdIn("customer_id", pks),
        event_type_id__in=list(plan.event_keys),
    ).update(
        properties=Case(
            *[
                When(event_type_id=type_id, then=JsonWithoutKeys("properties", keys))
                for type_id, keys in plan.event_keys.items()
            ],
            default=F("properties"),
            output_field=JSONField(),
        )
    )


def _audit_per_customer(
    actor: Principal,
    pks: Sequence[int],
    *,
    action: str,
    source: str,
    job: AnonymizationJob | None,
    now: datetime,
) -> None:
    """One audit event per customer, with the fields audit_record would write (one INSERT)."""
    details: dict[str, Any] = {"source": source}
    if job is not None:
        details["job"] = job.pk
    insert_per_customer(
        AuditEvent,
        {
            "project_id": "%s",
            "actor_user_id": "%s",
            "actor_api_key_id": "%s",
            "actor_label": "%s",
            "action": "%s",
            "target_type": "%s",
            "target_id": "CAST(id AS TEXT)",
            "details": "%s",
            "ip": "%s",
            "created_at": "%s",
        },
        [
            actor.project.pk,
            actor.user.pk if actor.user is not None else None,
            actor.api_key.pk if actor.api_key is not None else None,
            actor.label[:200],
            action,
            "customer",
            details,
            actor.ip,
            now,
        ],
        pks,
    )


def _customer_pks(customers: Iterable[Customer | int]) -> list[int]:
    seen: dict[int, None] = {}
    for item in customers:
        pk = item.pk if isinstance(item, Customer) else int(item)
        seen[pk] = None
    return list(seen)


@transaction.atomic
def customer_anonymize(
    *,
    actor: Principal,
    customers: Iterable[Customer | int],
    source: str,
    job: AnonymizationJob | None = None,
) -> list[int]:
    """Anonymize ``customers`` of the actor's project; returns the ids anonymized now.

    Customers of another project and already anonymized ones are skipped (nothing changes,
    nothing is tracked). Atomic: all of them or none. Large sets belong in a job
    (:func:`.anonymization_jobs.anonymization_job_create`), which calls this once per chunk.
    """
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    source = anonymization_source_clean(source)
    pks = _customer_pks(customers)
    if not pks:
        return []
    plans: list[_Plan] = []

    def plan_after_lock() -> _Plan:
        # Read once, after the first chunk's customers are locked; the shared catalog lock
        # it takes holds until commit, so it stays the plan for every later chunk.
        if not plans:
            plans.append(_plan_for(actor, source))
        return plans[0]

    done: list[int] = []
    size = chunk_size()
    for start in range(0, len(pks), size):
        done += _anonymize_chunk(
            actor=actor,
            plan_after_lock=plan_after_lock,
            customer_pks=pks[start : start + size],
            source=source,
            job=job,
        )
    return done


@dataclass(frozen=True)
class AnonymizeOutcome:
    """What anonymizing one requested customer did."""

    customer_pk: int  # the customer that holds the requested person's data now
    anonymized_now: bool  # False: it was anonymized already
    merged_from: int | None = None  # the requested id, when it had been merged into this one


def customer_survivor(project: Any, customer_pk: int) -> int | None:
    """The customer that holds ``customer_pk``'s data now: itself, or where merges took it."""
    current = customer_pk
    for _ in range(20):
        if Customer.objects.filter(project=project, pk=current).exists():
            return current
        target = (
            AuditEvent.objects.filter(
                project=project, action="customer.merge", details__merged_customer=current
            )
            .order_by("-id")
            .values_list("target_id", flat=True)
            .first()
        )
        if target is None or not str(target).isdigit():
            return None
        current = int(target)
    return None


def customer_anonymize_one(
    *,
    actor: Principal,
    source: str,
    customer_pk: int | None = None,
    ids: Mapping[str, str] | None = None,
) -> AnonymizeOutcome:
    """Anonymize one customer named by internal id or by IDs, and say what was done.

    The customer is locked, then what named it is checked again: a customer merged away
    meanwhile is followed to the one it was merged into (by IDs: where the IDs are now; by
    id: the merge's audit trail), and one that is gone raises :class:`NotFound`. Never a
    silent success that anonymized nobody.
    """
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    source = anonymization_source_clean(source)
    project = actor.project
    if (customer_pk is None) == (ids is None):
        raise InvalidInput("Name the customer by internal id or by IDs.")

    def find() -> int | None:
        if ids is not None:
            return customer_pk_for_ids(actor, ids)  # the one tie-break, as bulk and the API
        assert customer_pk is not None
        return customer_survivor(project, customer_pk)

    def work() -> AnonymizeOutcome:
        pk = find()
        if pk is None:
            raise NotFound("Customer not found.")
        locked = lock_customers(project, [pk]).get(pk)
        if locked is None or find() != pk:
            raise StaleRead  # merged away between the read and the lock: follow it
        done = customer_anonymize(actor=actor, customers=[pk], source=source)
        return AnonymizeOutcome(
            customer_pk=pk,
            anonymized_now=bool(done),
            merged_from=customer_pk if customer_pk is not None and customer_pk != pk else None,
        )

    return run_retrying(work)


# Flags added later ----------------------------------------------------------------------------


def anonymized_pii_remove(
    *, actor: Principal, customers: Iterable[Customer | int], job: AnonymizationJob | None = None
) -> list[int]:
    """Remove what the catalog flags as PII now from customers anonymized earlier.

    Same order as anonymization: customers locked (ascending id), then the plan under the
    shared catalog lock. Customers that are not anonymized are left alone (their own
    anonymization will use the catalog then). One ``customer.pii_removed`` audit event each.
    """
    project = actor.project
    pks = _customers_lock(project, _customer_pks(customers), anonymized=True)
    if not pks:
        return []
    plan = _plan_for(actor, AnonymizationJob.Source.CATALOG)
    props = plan.catalog.customer_properties
    if props:
        Customer.objects.filter(IdIn("pk", pks)).update(
            properties=JsonWithoutKeys("properties", props),
            property_timestamps=JsonWithoutKeys("property_timestamps", props),
        )
    _events_strip(plan, pks)
    _audit_per_customer(
        actor,
        pks,
        action="customer.pii_removed",
        source=AnonymizationJob.Source.CATALOG,
        job=job,
        now=timezone.now(),
    )
    return pks


# What the confirmation shows ----------------------------------------------------------------


@dataclass(frozen=True)
class AnonymizationPreview:
    """What anonymizing one customer will remove: names and counts, never a value."""

    customer: Customer
    properties: tuple[str, ...]  # PII property names the customer has
    id_names: tuple[tuple[str, int], ...]  # (ID name, how many values)
    events: tuple[tuple[str, str, int], ...]  # (event type, attribute, events holding it)

    @property
    def id_count(self) -> int:
        return sum(n for _, n in self.id_names)

    @property
    def already_anonymized(self) -> bool:
        return self.customer.anonymized_at is not None


def anonymization_preview(*, actor: Principal, customer: Customer) -> AnonymizationPreview:
    """Names of what :func:`customer_anonymize` would remove from ``customer`` (two queries)."""
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    if customer.project_id != actor.project.pk:
        raise NotFound("Customer not found.")
    catalog = catalog_load(actor.project.pk)
    properties = tuple(sorted(set(customer.properties) & catalog.customer_properties))
    id_rows = (
        CustomerId.objects.filter(customer=customer)
        .values("name")
        .annotate(n=Count("id"))
        .order_by("name")
    )
    pairs = [
        (type_name, attr)
        for type_name, attrs in sorted(catalog.event_attributes.items())
        for attr in sorted(attrs)
    ]
    events: list[tuple[str, str, int]] = []
    if pairs:
        counts = Event.objects.filter(customer=customer).aggregate(
            **{
                f"n{i}": Count("id", filter=Q(event_type__name=type_name, properties__has_key=attr))
                for i, (type_name, attr) in enumerate(pairs)
            }
        )
        events = [
            (type_name, attr, counts[f"n{i}"])
            for i, (type_name, attr) in enumerate(pairs)
            if counts[f"n{i}"]
        ]
    return AnonymizationPreview(
        customer=customer,
        properties=properties,
        id_names=tuple((row["name"], row["n"]) for row in id_rows),
        events=tuple(events),
    )


# After a backup restore --------------------------------------------------------------------


def erasures_replay(
    *,
    actor: Principal,
    customer_pks: Sequence[int],
    progress: Callable[[int], object] | None = None,
) -> int:
    """Anonymize again the given customers (:func:`.erasure_ledger.erasures_pending`);
    returns how many.

    Through :func:`customer_anonymize`, chunk by chunk (each chunk its own transaction, its
    own audit events and its own new ledger lines), then one ``erasure.replay`` audit event.
    """
    done = 0
    size = chunk_size()
    for start in range(0, len(customer_pks), size):
        chunk = list(customer_pks[start : start + size])
        done += len(customer_anonymize(actor=actor, customers=chunk, source="cli"))
        if progress is not None:
            progress(len(chunk))
    audit_record(
        actor=actor,
        action="erasure.replay",
        target_type="project",
        target_id=actor.project.pk,
        details={"pending": len(customer_pks), "anonymized": done},
    )
    return done
