"""Every write to the attribute catalog: defaults for new projects, discovery, PII flags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.errors import InvalidInput, NotFound
from access.models import Project
from access.principal import Principal
from access.services import audit_record

from .catalog import catalog_invalidate
from .models import AttributeKind, AttributeType, CustomerAttribute, EventAttribute, EventType
from .typing_rules import infer_type

DEFAULT_IDS: list[tuple[str, bool, str]] = [
    ("registered", True, "Hard ID: the customer's login, usually an e-mail address."),
    ("cookie", False, "Soft ID: a browser cookie; a customer may have several."),
]
SYSTEM_EVENT_TYPES: dict[str, dict[str, AttributeType]] = {
    "anonymization": {"source": AttributeType.STRING},
}


def on_project_created(*, project: Project, actor: Principal, **_: Any) -> None:
    """Every new project starts with the ``registered`` (hard) and ``cookie`` (soft) IDs."""
    CustomerAttribute.objects.bulk_create(
        [
            CustomerAttribute(
                project=project,
                name=name,
                kind=AttributeKind.ID,
                hard=hard,
                type=AttributeType.STRING,
                description=description,
            )
            for name, hard, description in DEFAULT_IDS
        ]
    )
    for type_name, attrs in SYSTEM_EVENT_TYPES.items():
        event_type = EventType.objects.create(
            project=project, name=type_name, system=True, description="Tracked by the product."
        )
        EventAttribute.objects.bulk_create(
            [EventAttribute(event_type=event_type, name=n, type=t) for n, t in attrs.items()]
        )


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


@transaction.atomic
def pii_flags_set(
    *,
    actor: Principal,
    customer_attributes: Mapping[str, bool] | None = None,
    event_attributes: Mapping[tuple[str, str], bool] | None = None,
) -> int:
    """Set PII flags by name, all or nothing; one audit event per changed flag.

    ``event_attributes`` maps ``(event_type, attribute)`` to the flag. Returns how many flags
    changed. The Data manager page and API build richer edits on top of this.
    """
    from access.permissions import Perm

    actor.require(Perm.MANAGE_DATA)
    project = actor.project
    changed = 0
    for name, flag in (customer_attributes or {}).items():
        attr = (
            CustomerAttribute.objects.select_for_update().filter(project=project, name=name).first()
        )
        if attr is None:
            raise NotFound(f"Customer attribute '{name}' not found.")
        if attr.pii != flag:
            audit_record(
                actor=actor,
                action="datamanager.pii_flag",
                target_type="customer_attribute",
                target_id=attr.pk,
                details={"attribute": name, "old": attr.pii, "new": flag},
            )
            attr.pii = flag
            attr.save(update_fields=["pii", "updated_at"])
            changed += 1
    for (type_name, name), flag in (event_attributes or {}).items():
        event_attr = (
            EventAttribute.objects.select_for_update()
            .filter(event_type__project=project, event_type__name=type_name, name=name)
            .first()
        )
        if event_attr is None:
            raise NotFound(f"Event attribute '{type_name}.{name}' not found.")
        if event_attr.pii != flag:
            audit_record(
                actor=actor,
                action="datamanager.pii_flag",
                target_type="event_attribute",
                target_id=event_attr.pk,
                details={
                    "event_type": type_name,
                    "attribute": name,
                    "old": event_attr.pii,
                    "new": flag,
                },
            )
            event_attr.pii = flag
            event_attr.save(update_fields=["pii", "updated_at"])
            changed += 1
    if changed:
        catalog_invalidate(project.pk)
    return changed


def attribute_declare(
    *, actor: Principal, name: str, kind: str = AttributeKind.PROPERTY, pii: bool = False
) -> CustomerAttribute:
    """Declare a customer attribute before it is tracked (used by setup scripts and tests)."""
    if kind not in AttributeKind.values:
        raise InvalidInput(f"Unknown attribute kind '{kind}'.")
    attr, _ = CustomerAttribute.objects.get_or_create(
        project=actor.project, name=name, defaults={"kind": kind}
    )
    if pii and not attr.pii:
        pii_flags_set(actor=actor, customer_attributes={name: True})
        attr.refresh_from_db()
    return attr
