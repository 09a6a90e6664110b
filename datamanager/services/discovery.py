"""Discovery: names seen in tracked data for the first time join the catalog (no audit: no actor)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import timezone

from access.models import Project

from ..models import AttributeKind, CustomerAttribute, EventAttribute, EventType
from ..typing_rules import infer_type


def catalog_register_seen(
    *,
    project: Project,
    id_names: Iterable[str] = (),
    customer_properties: Mapping[str, Any] | None = None,
    events: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, EventType]:
    """Register names seen for the first time, in the caller's transaction.

    ``customer_properties`` and each ``events[type]`` map a name to a sample value, from
    which a new attribute's type is inferred. A constant number of queries whatever the
    batch size. Returns the event types by name (for the events' foreign keys).
    """
    now = timezone.now()
    customer_properties = customer_properties or {}
    events = events or {}
    id_names = set(id_names)

    seen_customer = set(customer_properties) | id_names
    if seen_customer:
        existing = dict(
            CustomerAttribute.objects.filter(project=project, name__in=seen_customer).values_list(
                "name", "first_tracked_at"
            )
        )
        new = [
            CustomerAttribute(
                project=project,
                name=name,
                kind=AttributeKind.PROPERTY,
                type=infer_type(value),
                first_tracked_at=now,
            )
            for name, value in customer_properties.items()
            if name not in existing
        ]
        if new:
            CustomerAttribute.objects.bulk_create(new, ignore_conflicts=True)
        untracked = [name for name, first in existing.items() if first is None]
        if untracked:
            CustomerAttribute.objects.filter(
                project=project, name__in=untracked, first_tracked_at__isnull=True
            ).update(first_tracked_at=now)

    if not events:
        return {}
    types = {t.name: t for t in EventType.objects.filter(project=project, name__in=list(events))}
    missing = [name for name in events if name not in types]
    if missing:
        EventType.objects.bulk_create(
            [EventType(project=project, name=name, first_tracked_at=now) for name in missing],
            ignore_conflicts=True,
        )
        types = {
            t.name: t for t in EventType.objects.filter(project=project, name__in=list(events))
        }
    untracked_types = [t.pk for t in types.values() if t.first_tracked_at is None]
    if untracked_types:
        EventType.objects.filter(pk__in=untracked_types).update(first_tracked_at=now)

    wanted = {
        (types[t].pk, name): value for t, props in events.items() for name, value in props.items()
    }
    if wanted:
        existing_pairs = set(
            EventAttribute.objects.filter(
                event_type_id__in=[types[t].pk for t in events]
            ).values_list("event_type_id", "name")
        )
        new_attrs = [
            EventAttribute(
                event_type_id=type_id, name=name, type=infer_type(value), first_tracked_at=now
            )
            for (type_id, name), value in wanted.items()
            if (type_id, name) not in existing_pairs
        ]
        if new_attrs:
            EventAttribute.objects.bulk_create(new_attrs, ignore_conflicts=True)
    return types
