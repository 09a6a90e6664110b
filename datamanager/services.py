"""Every write to the attribute catalog: defaults for new projects, discovery, staged changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.errors import Forbidden, InvalidInput, NotFound
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from .catalog import catalog_invalidate, catalog_lock
from .models import AttributeKind, AttributeType, CustomerAttribute, EventAttribute, EventType
from .signals import pii_flagged
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
    changed. A thin form of :func:`catalog_changes_apply` for setup code (seeding, tests):
    the caller is its own confirmation of any unflagging.
    """
    result = catalog_changes_apply(
        actor=actor,
        customer_attributes=[
            CustomerAttributeChange(name=name, pii=flag)
            for name, flag in (customer_attributes or {}).items()
        ],
        event_attributes=[
            EventAttributeChange(event_type=type_name, name=name, pii=flag)
            for (type_name, name), flag in (event_attributes or {}).items()
        ],
        confirm_unflag=True,
    )
    return sum(1 for change in result.changes if change.field == "pii")


# Staged changes --------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerAttributeChange:
    """What to change on one customer attribute; ``None`` leaves a field as it is."""

    name: str
    pii: bool | None = None
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class EventAttributeChange:
    """What to change on one attribute of one event type."""

    event_type: str
    name: str
    pii: bool | None = None
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class EventTypeChange:
    """A new description for an event type."""

    name: str
    description: str | None = None


@dataclass(frozen=True)
class AppliedChange:
    """One field that changed, as audited (names and flags/types only, never a value)."""

    target: str  # "customer_attribute" | "event_attribute" | "event_type"
    attribute: str  # the attribute or event type name
    event_type: str | None
    field: str  # "pii" | "type" | "description"
    old: Any
    new: Any

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "name": self.attribute}
        if self.event_type is not None:
            out["event_type"] = self.event_type
        out.update(field=self.field, old=self.old, new=self.new)
        return out


@dataclass(frozen=True)
class CatalogChangeResult:
    changes: list[AppliedChange]


class UnflagForbidden(Forbidden):
    """Unflagging shows hidden values: only a principal who may see them may do it.

    Otherwise ``manage_data`` without Personal data could unflag an attribute, read its
    values and flag it again. Flagging (hiding more) stays open to ``manage_data``.
    """

    code = "unflag_forbidden"

    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = ", ".join(f"'{n}'" for n in names)
        super().__init__(
            f"Unflagging {listed} would show personal data: you need the Personal data "
            "permission to unflag an attribute."
        )


class UnflagNotConfirmed(InvalidInput):
    """Unflagging makes values visible to everyone; the caller must confirm it explicitly."""

    code = "unflag_not_confirmed"

    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = ", ".join(f"'{n}'" for n in names)
        super().__init__(
            f"Unflagging {listed} makes their values visible to everyone without the Personal "
            "data permission, and anonymization will stop deleting them. Confirm the change "
            '(API: send "confirm_unflag": true).'
        )


DESCRIPTION_MAX = 500

_ACTIONS = {
    "pii": "datamanager.pii_flag",
    "type": "datamanager.attribute_type",
    "description": "datamanager.description",
}


def _label(event_type: str | None, name: str) -> str:
    return f"{event_type}.{name}" if event_type else name


def _validate_fields(label: str, type_: str | None, description: str | None) -> list[str]:
    errors = []
    if type_ is not None and type_ not in AttributeType.values:
        errors.append(
            f"Unknown type '{type_}' for '{label}'; use one of: {', '.join(AttributeType.values)}."
        )
    if description is not None and len(description) > DESCRIPTION_MAX:
        errors.append(f"The description of '{label}' is longer than {DESCRIPTION_MAX} characters.")
    return errors


def _field_changes(
    obj: CustomerAttribute | EventAttribute | EventType,
    wanted: Mapping[str, Any],
    *,
    target: str,
    name: str,
    event_type: str | None,
) -> list[AppliedChange]:
    return [
        AppliedChange(target, name, event_type, field_name, getattr(obj, field_name), value)
        for field_name, value in wanted.items()
        if value is not None and getattr(obj, field_name) != value
    ]


@transaction.atomic
def catalog_changes_apply(
    *,
    actor: Principal,
    customer_attributes: Sequence[CustomerAttributeChange] = (),
    event_attributes: Sequence[EventAttributeChange] = (),
    event_types: Sequence[EventTypeChange] = (),
    confirm_unflag: bool = False,
) -> CatalogChangeResult:
    """Apply a set of staged Data manager changes in one transaction, or none of them.

    Everything is validated before anything is written: an unknown attribute or event
    type raises :class:`NotFound` (listing every missing name), a bad type or an
    over-long description :class:`InvalidInput`, an unflag without ``confirm_unflag``
    :class:`UnflagNotConfirmed`. Each changed field writes one audit event (attribute,
    old and new flag/type/description, who) and the cached catalog is invalidated, so
    masking sees the change on the very next request. Needs ``manage_data``.
    """
    actor.require(Perm.MANAGE_DATA)
    project = actor.project
    # Exclusive against anonymizations reading their plan (docs/architecture.md).
    catalog_lock(project.pk, exclusive=True)

    missing: list[str] = []
    invalid: list[str] = []
    seen: set[tuple[str, str | None, str]] = set()

    def once(kind: str, event_type: str | None, name: str) -> None:
        if (kind, event_type, name) in seen:
            invalid.append(f"'{_label(event_type, name)}' is listed twice.")
        seen.add((kind, event_type, name))

    # Lock the rows we may change, in a stable order, so two saves cannot interleave.
    ca_names = [c.name for c in customer_attributes]
    ca_rows = {
        a.name: a
        for a in CustomerAttribute.objects.select_for_update()
        .filter(project=project, name__in=ca_names)
        .order_by("pk")
    }
    ea_pairs = {(c.event_type, c.name) for c in event_attributes}
    ea_rows = {
        (a.event_type.name, a.name): a
        for a in EventAttribute.objects.select_for_update()
        .select_related("event_type")
        .filter(event_type__project=project, name__in={n for _, n in ea_pairs})
        .order_by("pk")
        if (a.event_type.name, a.name) in ea_pairs
    }
    et_rows = {
        t.name: t
        for t in EventType.objects.select_for_update()
        .filter(project=project, name__in=[c.name for c in event_types])
        .order_by("pk")
    }

    planned: list[tuple[CustomerAttribute | EventAttribute | EventType, list[AppliedChange]]] = []
    for change in customer_attributes:
        once("ca", None, change.name)
        invalid += _validate_fields(change.name, change.type, change.description)
        attr = ca_rows.get(change.name)
        if attr is None:
            missing.append(f"Customer attribute '{change.name}' not found.")
            continue
        wanted = {"pii": change.pii, "type": change.type, "description": change.description}
        planned.append(
            (
                attr,
                _field_changes(
                    attr, wanted, target="customer_attribute", name=change.name, event_type=None
                ),
            )
        )
    for event_change in event_attributes:
        label = _label(event_change.event_type, event_change.name)
        once("ea", event_change.event_type, event_change.name)
        invalid += _validate_fields(label, event_change.type, event_change.description)
        event_attr = ea_rows.get((event_change.event_type, event_change.name))
        if event_attr is None:
            missing.append(f"Event attribute '{label}' not found.")
            continue
        wanted = {
            "pii": event_change.pii,
            "type": event_change.type,
            "description": event_change.description,
        }
        planned.append(
            (
                event_attr,
                _field_changes(
                    event_attr,
                    wanted,
                    target="event_attribute",
                    name=event_change.name,
                    event_type=event_change.event_type,
                ),
            )
        )
    for type_change in event_types:
        once("et", None, type_change.name)
        invalid += _validate_fields(type_change.name, None, type_change.description)
        event_type = et_rows.get(type_change.name)
        if event_type is None:
            missing.append(f"Event type '{type_change.name}' not found.")
            continue
        planned.append(
            (
                event_type,
                _field_changes(
                    event_type,
                    {"description": type_change.description},
                    target="event_type",
                    name=type_change.name,
                    event_type=None,
                ),
            )
        )

    if missing:
        raise NotFound(missing[0], errors=missing)
    if invalid:
        raise InvalidInput(invalid[0], errors=invalid)
    unflagged = [
        _label(c.event_type, c.attribute)
        for _, changes in planned
        for c in changes
        if c.field == "pii" and c.new is False
    ]
    if unflagged and not actor.can_see_personal_data:
        raise UnflagForbidden(unflagged)
    if unflagged and not confirm_unflag:
        raise UnflagNotConfirmed(unflagged)

    applied: list[AppliedChange] = []
    for obj, changes in planned:
        if not changes:
            continue
        for c in changes:
            setattr(obj, c.field, c.new)
            details: dict[str, Any] = {"attribute": c.attribute, "old": c.old, "new": c.new}
            if c.event_type is not None:
                details = {"event_type": c.event_type, **details}
            if c.target == "event_type":
                details = {"event_type": c.attribute, "old": c.old, "new": c.new}
            audit_record(
                actor=actor,
                action=_ACTIONS[c.field],
                target_type=c.target,
                target_id=obj.pk,
                details=details,
            )
        fields = [c.field for c in changes]
        if not isinstance(obj, EventType):
            fields.append("updated_at")
        obj.save(update_fields=fields)
        applied.extend(changes)
    if applied:
        catalog_invalidate(project.pk)
    flagged = [
        _label(c.event_type, c.attribute) for c in applied if c.field == "pii" and c.new is True
    ]
    if flagged:
        # After commit, when the catalog lock is released: the clean-up job's items lock
        # customer rows, and an anonymization holds its customers while it waits for the
        # catalog lock, so doing it inside this transaction inverted the lock order
        # (customers, then catalog) and deadlocked (found by bench/soak_concurrency.py).
        transaction.on_commit(
            lambda: pii_flagged.send(sender=None, project=project, actor=actor, attributes=flagged)
        )
    return CatalogChangeResult(changes=applied)


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
