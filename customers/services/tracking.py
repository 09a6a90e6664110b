"""Every write about customers: identification and merge, property updates, events.

Tracking (the API, the demo seeder, the benchmarks) calls these. Each takes the acting
principal, validates everything before writing, and is atomic: bad input writes nothing.

Locking and re-check (docs/architecture.md, "Locking and re-check"): every write to a
customer first locks the customers its IDs name, in ascending id order, then reads the IDs
again under the lock; if they no longer name the same customers (a concurrent merge or
anonymization moved or deleted them) the whole transaction is retried from the start. An
anonymized customer is never merged, never gets an ID, a PII property or a PII event
attribute: IDs that only it holds (its fresh random cookie) still reach it, with PII
stripped; any other ID starts or finds another profile. A lost race (deadlock,
serialization failure, a concurrent insert of the same ID) retries the whole transaction a
bounded number of times, then answers 409, never 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db import DatabaseError, IntegrityError, connection, transaction

from access.errors import Conflict, InvalidInput
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from datamanager.catalog import PiiCatalog, catalog_load, catalog_lock
from datamanager.services import catalog_register_seen

from ..models import AnonymizationJobItem, Customer, CustomerId, Event
from ..selectors import id_names, id_owner_pick, id_owners
from ..validation import clean_ids, clean_name, clean_properties, clean_timestamp, to_datetime
from .suppression import suppressed_name, suppression_check


@dataclass(frozen=True)
class TrackedCustomer:
    customer: Customer
    created: bool
    merged_from: tuple[int, ...] = ()


# Locking, re-check and retry -------------------------------------------------------------------

RETRY_ATTEMPTS = 8
# PostgreSQL SQLSTATEs of a lost race: serialization failure, deadlock, unique and FK violation
# (a concurrent insert of the same ID; a row deleted by a concurrent merge).
_RACE_SQLSTATES = frozenset({"40001", "40P01", "23505", "23503"})
T = TypeVar("T")


class StaleRead(Exception):
    """What a decision was based on changed before the lock was taken: start again."""


def is_lost_race(exc: BaseException) -> bool:
    """True for an error that a retry of the whole transaction resolves."""
    if isinstance(exc, StaleRead):
        return True
    if not isinstance(exc, DatabaseError):
        return False
    state = getattr(exc.__cause__, "sqlstate", None)
    if state is not None:
        return state in _RACE_SQLSTATES
    # SQLite has no SQLSTATE: a unique violation is the only race it shows.
    return isinstance(exc, IntegrityError) and connection.vendor != "postgresql"


def run_retrying(work: Callable[[], T], *, on_retry: Callable[[], None] | None = None) -> T:
    """Run ``work`` in a transaction; a lost race runs it again, then answers 409.

    Called outside any transaction, a retry is a whole new transaction (its locks released);
    inside one (seeding in a transaction) it is a savepoint.
    """
    for attempt in range(RETRY_ATTEMPTS):
        try:
            with transaction.atomic():
                return work()
        except Exception as exc:
            if not is_lost_race(exc):
                raise
            if on_retry is not None:
                on_retry()
            if attempt == RETRY_ATTEMPTS - 1:
                raise Conflict(
                    "The customer was changed by concurrent requests; send the request again."
                ) from exc
            time.sleep(random.uniform(0, 0.002 * 2**attempt))
    raise AssertionError("unreachable")


def lock_customers(project: Project, pks: Iterable[int]) -> dict[int, Customer]:
    """Lock these customers (ascending id, the one global order) and return them fresh."""
    wanted = sorted(set(pks))
    if not wanted:
        return {}
    return {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(project=project, pk__in=wanted)
        .order_by("pk")
    }


def anonymized_catalog(project: Project) -> PiiCatalog:
    """The catalog to strip a write to an anonymized customer with, read under the catalog
    lock (shared), so a flag being saved now is either in it or applied by the flag's own
    clean-up job after this transaction commits."""
    catalog_lock(project.pk, exclusive=False)
    return catalog_load(project.pk)


def strip_customer_properties(catalog: PiiCatalog, properties: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if not catalog.is_pii_customer_attribute(k)}


def strip_event_properties(
    catalog: PiiCatalog, event_type: str, properties: Mapping[str, Any]
) -> dict[str, Any]:
    pii = catalog.event_pii(event_type)
    return {k: v for k, v in properties.items() if k not in pii}


def _hard_values(customer_pk: int, hard: Mapping[str, bool]) -> dict[str, str]:
    names = [n for n, is_hard in hard.items() if is_hard]
    return dict(
        CustomerId.objects.filter(customer_id=customer_pk, name__in=names).values_list(
            "name", "value"
        )
    )


def _merge_customers(*, actor: Principal, target: Customer, source: Customer) -> None:
    """Move ``source``'s events and IDs to ``target``; ``target``'s properties win.

    Both are locked by the caller. A pending bulk anonymization of ``source`` follows it
    to ``target`` (the same person), so a merge never makes a requested erasure vanish.
    """
    Event.objects.filter(customer=source).update(customer=target)
    CustomerId.objects.filter(customer=source).update(customer=target)
    pending = AnonymizationJobItem.objects.filter(customer=source, done=False)
    already = AnonymizationJobItem.objects.filter(customer=target).values("job_id")
    pending.filter(job_id__in=already).delete()
    pending.update(customer=target)
    target.properties = {**source.properties, **target.properties}
    target.property_timestamps = {**source.property_timestamps, **target.property_timestamps}
    target.save(update_fields=["properties", "property_timestamps", "updated_at"])
    audit_record(
        actor=actor,
        action="customer.merge",
        target_type="customer",
        target_id=target.pk,
        details={"merged_customer": source.pk},
    )
    source.delete()


def customer_identify_locked(
    *, actor: Principal, ids: dict[str, str], hard: Mapping[str, bool]
) -> TrackedCustomer:
    """Resolve ``ids`` to one locked customer, in the caller's transaction.

    Locks every customer the IDs name (ascending id), then reads the IDs again: if they
    moved meanwhile, :class:`StaleRead` makes the caller start over. An anonymized
    customer keeps only its own IDs: when every ID of the request is on it, the request
    goes to it (and the caller strips PII); otherwise its IDs are left out of the request
    and the rest find or start another profile.
    """
    project = actor.project
    matches = id_owners(actor, ids.items())
    locked = lock_customers(project, matches.values())
    if set(locked) != set(matches.values()) or id_owners(actor, ids.items()) != matches:
        raise StaleRead  # merged away, anonymized or an ID moved between the read and the lock
    anonymized = {pk for pk, c in locked.items() if c.anonymized_at is not None}
    if anonymized:
        on_anonymized = {key for key, pk in matches.items() if pk in anonymized}
        if len(on_anonymized) == len(ids):
            return TrackedCustomer(customer=locked[min(anonymized)], created=False)
        ids = {n: v for n, v in ids.items() if (n, v) not in on_anonymized}
        matches = {key: pk for key, pk in matches.items() if pk not in anonymized}
    request_hard = {n: v for n, v in ids.items() if hard.get(n)}

    target: Customer | None = None
    target_hard: dict[str, str] = {}
    # The customer the IDs name, by the one tie-break that lookups and anonymization use.
    owner = id_owner_pick(matches, hard)
    if owner is not None and any(hard.get(n) for n, _ in matches):
        target = locked[owner]
        target_hard = _hard_values(target.pk, hard)
    elif owner is not None:
        candidate = locked[owner]
        candidate_hard = _hard_values(candidate.pk, hard)
        if all(candidate_hard.get(n, v) == v for n, v in request_hard.items()):
            target, target_hard = candidate, candidate_hard
        # else: someone else logs in on a browser known as another person: a new customer.
    created = target is None
    if target is None:
        target = Customer.objects.create(project=project)
    target_hard = {**request_hard, **target_hard}

    merged: list[int] = []
    for other_pk in sorted(set(matches.values()) - {target.pk}):
        other_hard = _hard_values(other_pk, hard)
        if any(target_hard.get(n, v) != v for n, v in other_hard.items()):
            continue  # two known people: never merged; the shared soft ID moves below
        _merge_customers(actor=actor, target=target, source=locked[other_pk])
        target_hard.update(other_hard)
        merged.append(other_pk)

    # Attach the request's IDs: new ones are created, soft IDs of a customer we could not
    # merge move over (that customer is locked too), and a second value for a hard ID the
    # target already has is ignored.
    new_ids: list[CustomerId] = []
    for name, value in ids.items():
        owner = matches.get((name, value))
        if owner == target.pk or owner in merged:
            continue
        if owner is None:
            if hard.get(name) and target_hard.get(name) != value:
                continue
            new_ids.append(CustomerId(project=project, customer=target, name=name, value=value))
        elif not hard.get(name):
            CustomerId.objects.filter(project=project, name=name, value=value).update(
                customer=target
            )
    CustomerId.objects.bulk_create(new_ids)
    return TrackedCustomer(customer=target, created=created, merged_from=tuple(merged))


def customer_identify(*, actor: Principal, ids: Any) -> TrackedCustomer:
    """Find the customer the IDs name, creating it if none does, merging if several do.

    A cookie-only visitor who later logs in (``{"registered": ..., "cookie": ...}``) is
    merged into the customer holding the hard ID: events and IDs move over, the hard-ID
    customer's properties win on conflict, and one ``customer.merge`` audit event is written.
    """
    actor.require(Perm.TRACK)
    hard = id_names(actor.project)
    cleaned = clean_ids(ids, known=hard)
    suppression_check(actor.project, cleaned, hard)  # an erased customer stays erased

    def work() -> TrackedCustomer:
        catalog_register_seen(project=actor.project, id_names=cleaned)
        tracked = customer_identify_locked(actor=actor, ids=cleaned, hard=hard)
        _recheck_suppression(actor.project, cleaned, hard)
        return tracked

    return _run_tracking(actor, work, cleaned, hard)


class _SuppressedMeanwhile(Exception):
    """An anonymization committed between the first suppression check and the write."""


def _recheck_suppression(project: Any, ids: Mapping[str, str], hard: Mapping[str, bool]) -> None:
    """Inside the tracking transaction, after the customers are identified and locked.

    The first check runs before the transaction; an anonymization that committed since
    (its customer's IDs deleted and their hashes suppressed in one commit) is seen now, so
    the call writes nothing instead of creating the erased person again. An anonymization
    that has not committed yet waits for this transaction's customer locks and then
    anonymizes whatever this call wrote.
    """
    if suppressed_name(project, ids, hard) is not None:
        raise _SuppressedMeanwhile


def _run_tracking(
    actor: Principal, work: Callable[[], T], ids: Mapping[str, str], hard: Mapping[str, bool]
) -> T:
    try:
        return run_retrying(work)
    except _SuppressedMeanwhile:
        suppression_check(actor.project, ids, hard)  # counts the refusal and raises
        raise


class _HasProperties(Protocol):
    properties: dict[str, Any]
    property_timestamps: dict[str, Any]


def customer_properties_apply(
    customer: _HasProperties, properties: Mapping[str, Any], update_timestamp: float | None
) -> bool:
    """Merge ``properties`` into the customer; an update older than the stored one is skipped."""
    ts = update_timestamp if update_timestamp is not None else time.time()
    changed = False
    for name, value in properties.items():
        previous = customer.property_timestamps.get(name)
        if previous is not None and previous > ts:
            continue
        customer.properties[name] = value
        customer.property_timestamps[name] = ts
        changed = True
    return changed


def customer_update(
    *, actor: Principal, ids: Any, properties: Any, update_timestamp: Any = None
) -> TrackedCustomer:
    """Exponea's "update customer properties": identify, then merge the properties.

    On an anonymized customer (reached by its own random cookie only) the PII properties
    are dropped and the others applied.
    """
    actor.require(Perm.TRACK)
    props = clean_properties(properties)
    ts = clean_timestamp(update_timestamp, what="update_timestamp")
    hard = id_names(actor.project)
    clash = sorted(set(props) & set(hard))
    if clash:
        raise InvalidInput(f"'{clash[0]}' is a customer ID name; send it in customer_ids.")
    cleaned = clean_ids(ids, known=hard)
    suppression_check(actor.project, cleaned, hard)  # an erased customer stays erased

    def work() -> TrackedCustomer:
        catalog_register_seen(project=actor.project, id_names=cleaned)
        tracked = customer_identify_locked(actor=actor, ids=cleaned, hard=hard)
        _recheck_suppression(actor.project, cleaned, hard)
        if not props:
            return tracked
        catalog_register_seen(project=actor.project, customer_properties=props)
        customer = tracked.customer  # locked by customer_identify_locked (or created by it)
        wanted = props
        if customer.anonymized_at is not None:
            wanted = strip_customer_properties(anonymized_catalog(actor.project), props)
        if customer_properties_apply(customer, wanted, ts):
            customer.save(update_fields=["properties", "property_timestamps", "updated_at"])
        return tracked

    return _run_tracking(actor, work, cleaned, hard)


def event_track(
    *,
    actor: Principal,
    ids: Any,
    event_type: Any,
    timestamp: Any = None,
    properties: Any = None,
) -> Event:
    """Exponea's "add event": identify the customer, then store the event.

    On an anonymized customer (reached by its own random cookie only) the event is kept
    without its PII attributes.
    """
    actor.require(Perm.TRACK)
    type_name = clean_name(event_type, what="event_type")
    props = clean_properties(properties)
    ts = clean_timestamp(timestamp)
    hard = id_names(actor.project)
    cleaned = clean_ids(ids, known=hard)
    suppression_check(actor.project, cleaned, hard)  # an erased customer stays erased
    stamp = to_datetime(ts if ts is not None else time.time())

    def work() -> Event:
        catalog_register_seen(project=actor.project, id_names=cleaned)
        tracked = customer_identify_locked(actor=actor, ids=cleaned, hard=hard)
        _recheck_suppression(actor.project, cleaned, hard)
        types = catalog_register_seen(project=actor.project, events={type_name: props})
        stored = props
        if tracked.customer.anonymized_at is not None:
            stored = strip_event_properties(anonymized_catalog(actor.project), type_name, props)
        return Event.objects.create(
            project=actor.project,
            customer=tracked.customer,
            event_type=types[type_name],
            timestamp=stamp,
            properties=stored,
        )

    return _run_tracking(actor, work, cleaned, hard)


@transaction.atomic
def events_track_many(
    *, actor: Principal, customer: Customer, events: list[tuple[str, float, dict[str, Any]]]
) -> int:
    """Store many events of one known customer at once (seeding, imports): constant queries."""
    actor.require(Perm.TRACK)
    if customer.project_id != actor.project.pk:
        raise InvalidInput("The customer belongs to another project.")
    cleaned: list[tuple[str, float, dict[str, Any]]] = []
    samples: dict[str, dict[str, Any]] = {}
    for type_name, ts, props in events:
        name = clean_name(type_name, what="event_type")
        stamp = clean_timestamp(ts)
        clean = clean_properties(props)
        cleaned.append((name, stamp if stamp is not None else time.time(), clean))
        samples.setdefault(name, {}).update(clean)
    types = catalog_register_seen(project=actor.project, events=samples)
    locked = lock_customers(actor.project, [customer.pk]).get(customer.pk)
    if locked is None:
        raise Conflict("The customer was merged into another or deleted meanwhile.")
    if locked.anonymized_at is not None:
        catalog = anonymized_catalog(actor.project)
        cleaned = [(n, t, strip_event_properties(catalog, n, p)) for n, t, p in cleaned]
    Event.objects.bulk_create(
        [
            Event(
                project=actor.project,
                customer=locked,
                event_type=types[name],
                timestamp=to_datetime(stamp),
                properties=props,
            )
            for name, stamp, props in cleaned
        ],
        batch_size=500,
    )
    return len(cleaned)
