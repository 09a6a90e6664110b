"""Every write about customers: identification and merge, property updates, events.

Tracking (the API, the demo seeder, the benchmarks) calls these. Each takes the acting
principal, validates everything before writing, and is atomic: bad input writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import IntegrityError, transaction

from access.errors import InvalidInput
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from datamanager.services import catalog_register_seen

from ..models import Customer, CustomerId, Event
from ..selectors import customer_ids_matching, id_names
from ..validation import clean_ids, clean_name, clean_properties, clean_timestamp, to_datetime


@dataclass(frozen=True)
class TrackedCustomer:
    customer: Customer
    created: bool
    merged_from: tuple[int, ...] = ()


def _hard_values(customer_pk: int, hard: Mapping[str, bool]) -> dict[str, str]:
    names = [n for n, is_hard in hard.items() if is_hard]
    return dict(
        CustomerId.objects.filter(customer_id=customer_pk, name__in=names).values_list(
            "name", "value"
        )
    )


def _merge_customers(*, actor: Principal, target: Customer, source: Customer) -> None:
    """Move ``source``'s events and IDs to ``target``; ``target``'s properties win."""
    Event.objects.filter(customer=source).update(customer=target)
    CustomerId.objects.filter(customer=source).update(customer=target)
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


def _identify(
    *, actor: Principal, ids: dict[str, str], hard: Mapping[str, bool]
) -> TrackedCustomer:
    project = actor.project
    matches = customer_ids_matching(project, ids)
    request_hard = {n: v for n, v in ids.items() if hard.get(n)}

    target: Customer | None = None
    target_hard: dict[str, str] = {}
    hard_matches = sorted((n, cid) for (n, _), cid in matches.items() if hard.get(n))
    if hard_matches:
        target = Customer.objects.select_for_update().get(pk=hard_matches[0][1])
        target_hard = _hard_values(target.pk, hard)
    elif matches:
        candidate = Customer.objects.select_for_update().get(pk=min(matches.values()))
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
        other = Customer.objects.select_for_update().get(pk=other_pk)
        _merge_customers(actor=actor, target=target, source=other)
        target_hard.update(other_hard)
        merged.append(other_pk)

    # Attach the request's IDs: new ones are created, soft IDs of a customer we could not
    # merge move over, and a second value for a hard ID the target already has is ignored.
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
    for attempt in range(3):
        try:
            with transaction.atomic():
                catalog_register_seen(project=actor.project, id_names=cleaned)
                return _identify(actor=actor, ids=cleaned, hard=hard)
        except IntegrityError:
            # A concurrent request created one of these IDs first; look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class _HasProperties(Protocol):
    properties: dict[str, Any]
    property_timestamps: dict[str, Any]


def _apply_properties(
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


@transaction.atomic
def customer_update(
    *, actor: Principal, ids: Any, properties: Any, update_timestamp: Any = None
) -> TrackedCustomer:
    """Exponea's "update customer properties": identify, then merge the properties."""
    actor.require(Perm.TRACK)
    props = clean_properties(properties)
    ts = clean_timestamp(update_timestamp, what="update_timestamp")
    hard = id_names(actor.project)
    clash = sorted(set(props) & set(hard))
    if clash:
        raise InvalidInput(f"'{clash[0]}' is a customer ID name; send it in customer_ids.")
    tracked = customer_identify(actor=actor, ids=ids)
    if props:
        catalog_register_seen(project=actor.project, customer_properties=props)
        customer = Customer.objects.select_for_update().get(pk=tracked.customer.pk)
        if _apply_properties(customer, props, ts):
            customer.save(update_fields=["properties", "property_timestamps", "updated_at"])
        tracked = TrackedCustomer(
            customer=customer, created=tracked.created, merged_from=tracked.merged_from
        )
    return tracked


@transaction.atomic
def event_track(
    *,
    actor: Principal,
    ids: Any,
    event_type: Any,
    timestamp: Any = None,
    properties: Any = None,
) -> Event:
    """Exponea's "add event": identify the customer, then store the event."""
    actor.require(Perm.TRACK)
    type_name = clean_name(event_type, what="event_type")
    props = clean_properties(properties)
    ts = clean_timestamp(timestamp)
    tracked = customer_identify(actor=actor, ids=ids)
    types = catalog_register_seen(project=actor.project, events={type_name: props})
    return Event.objects.create(
        project=actor.project,
        customer=tracked.customer,
        event_type=types[type_name],
        timestamp=to_datetime(ts if ts is not None else time.time()),
        properties=props,
    )


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
    Event.objects.bulk_create(
        [
            Event(
                project=actor.project,
                customer=customer,
                event_type=types[name],
                timestamp=to_datetime(stamp),
                properties=props,
            )
            for name, stamp, props in cleaned
        ],
        batch_size=500,
    )
    return len(cleaned)
