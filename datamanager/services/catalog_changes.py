"""Apply a set of staged Data manager changes in one transaction, or none of them.

:func:`catalog_changes_apply` is the only writer of PII flags, types and descriptions. It
runs in five steps, each a function below: lock the rows (:func:`_rows_lock`), plan the
field changes and collect every problem (:func:`_plan`), refuse the whole save if anything
is wrong (:func:`_plan_check`), write and audit each changed field (:func:`_plan_write`),
and tell the rest of the product (:func:`_changes_announce`: cache invalidation now, the
``pii_flagged`` signal after commit). To change a new field of an attribute, add it to the
change type in :mod:`.change_types`, to :meth:`_Wanted.fields` and to ``_ACTIONS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from access.errors import InvalidInput, NotFound
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from ..catalog import catalog_invalidate, catalog_lock
from ..models import AttributeType, CustomerAttribute, EventAttribute, EventType
from ..signals import pii_flagged
from .change_types import (
    DESCRIPTION_MAX,
    AppliedChange,
    CatalogChangeResult,
    CustomerAttributeChange,
    EventAttributeChange,
    EventTypeChange,
    UnflagForbidden,
    UnflagNotConfirmed,
)

CatalogRow = CustomerAttribute | EventAttribute | EventType
# (target, event type or None, name): one catalog entry a save may change.
RowKey = tuple[str, str | None, str]

_ACTIONS = {
    "pii": "datamanager.pii_flag",
    "type": "datamanager.attribute_type",
    "description": "datamanager.description",
}
_NOT_FOUND = {
    "customer_attribute": "Customer attribute '{}' not found.",
    "event_attribute": "Event attribute '{}' not found.",
    "event_type": "Event type '{}' not found.",
}


@dataclass(frozen=True)
class _Wanted:
    """One requested change, whatever its target, with the fields it asks for."""

    target: str
    event_type: str | None
    name: str
    fields: Mapping[str, Any]

    @property
    def key(self) -> RowKey:
        return (self.target, self.event_type, self.name)

    @property
    def label(self) -> str:
        return f"{self.event_type}.{self.name}" if self.event_type else self.name


@dataclass
class _Plan:
    """What a save would write, and everything wrong with it."""

    writes: list[tuple[CatalogRow, list[AppliedChange]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


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
    wanted = _wanted(customer_attributes, event_attributes, event_types)
    plan = _plan(wanted, _rows_lock(project, wanted))
    _plan_check(plan, actor=actor, confirm_unflag=confirm_unflag)
    applied = _plan_write(plan, actor=actor)
    _changes_announce(applied, project=project, actor=actor)
    return CatalogChangeResult(changes=applied)


def _wanted(
    customer_attributes: Sequence[CustomerAttributeChange],
    event_attributes: Sequence[EventAttributeChange],
    event_types: Sequence[EventTypeChange],
) -> list[_Wanted]:
    """The three kinds of change in one shape, in the order given."""
    return [
        *(
            _Wanted(
                "customer_attribute",
                None,
                c.name,
                {"pii": c.pii, "type": c.type, "description": c.description},
            )
            for c in customer_attributes
        ),
        *(
            _Wanted(
                "event_attribute",
                c.event_type,
                c.name,
                {"pii": c.pii, "type": c.type, "description": c.description},
            )
            for c in event_attributes
        ),
        *(_Wanted("event_type", None, c.name, {"description": c.description}) for c in event_types),
    ]


def _rows_lock(project: Project, wanted: Sequence[_Wanted]) -> dict[RowKey, CatalogRow]:
    """Lock the rows a save may change, in a stable order, so two saves cannot interleave."""
    names = {
        target: {w.name for w in wanted if w.target == target}
        for target in ("customer_attribute", "event_attribute", "event_type")
    }
    ea_pairs = {(w.event_type, w.name) for w in wanted if w.target == "event_attribute"}
    rows: dict[RowKey, CatalogRow] = {}
    for attr in (
        CustomerAttribute.objects.select_for_update()
        .filter(project=project, name__in=names["customer_attribute"])
        .order_by("pk")
    ):
        rows["customer_attribute", None, attr.name] = attr
    for event_attr in (
        EventAttribute.objects.select_for_update()
        .select_related("event_type")
        .filter(event_type__project=project, name__in=names["event_attribute"])
        .order_by("pk")
    ):
        if (event_attr.event_type.name, event_attr.name) in ea_pairs:
            rows["event_attribute", event_attr.event_type.name, event_attr.name] = event_attr
    for event_type in (
        EventType.objects.select_for_update()
        .filter(project=project, name__in=names["event_type"])
        .order_by("pk")
    ):
        rows["event_type", None, event_type.name] = event_type
    return rows


def _plan(wanted: Sequence[_Wanted], rows: Mapping[RowKey, CatalogRow]) -> _Plan:
    """The field changes of every wanted entry, and every problem found on the way."""
    plan = _Plan()
    seen: set[RowKey] = set()
    for w in wanted:
        if w.key in seen:
            plan.invalid.append(f"'{w.label}' is listed twice.")
        seen.add(w.key)
        plan.invalid += _validate_fields(w.label, w.fields.get("type"), w.fields.get("description"))
        row = rows.get(w.key)
        if row is None:
            plan.missing.append(_NOT_FOUND[w.target].format(w.label))
            continue
        plan.writes.append((row, _field_changes(row, w)))
    return plan


def _validate_fields(label: str, type_: str | None, description: str | None) -> list[str]:
    errors = []
    if type_ is not None and type_ not in AttributeType.values:
        errors.append(
            f"Unknown type '{type_}' for '{label}'; use one of: {', '.join(AttributeType.values)}."
        )
    if description is not None and len(description) > DESCRIPTION_MAX:
        errors.append(f"The description of '{label}' is longer than {DESCRIPTION_MAX} characters.")
    return errors


def _field_changes(row: CatalogRow, w: _Wanted) -> list[AppliedChange]:
    return [
        AppliedChange(w.target, w.name, w.event_type, name, getattr(row, name), value)
        for name, value in w.fields.items()
        if value is not None and getattr(row, name) != value
    ]


def _plan_check(plan: _Plan, *, actor: Principal, confirm_unflag: bool) -> None:
    """Refuse the whole save on the first kind of problem found, listing all of that kind."""
    if plan.missing:
        raise NotFound(plan.missing[0], errors=plan.missing)
    if plan.invalid:
        raise InvalidInput(plan.invalid[0], errors=plan.invalid)
    unflagged = [
        c.label
        for _, changes in plan.writes
        for c in changes
        if c.field == "pii" and c.new is False
    ]
    if unflagged and not actor.can_see_personal_data:
        raise UnflagForbidden(unflagged)
    if unflagged and not confirm_unflag:
        raise UnflagNotConfirmed(unflagged)


def _plan_write(plan: _Plan, *, actor: Principal) -> list[AppliedChange]:
    """Save each changed row once, with one audit event per changed field."""
    applied: list[AppliedChange] = []
    for row, changes in plan.writes:
        if not changes:
            continue
        for c in changes:
            setattr(row, c.field, c.new)
            audit_record(
                actor=actor,
                action=_ACTIONS[c.field],
                target_type=c.target,
                target_id=row.pk,
                details=_audit_details(c),
            )
        fields = [c.field for c in changes]
        if not isinstance(row, EventType):
            fields.append("updated_at")
        row.save(update_fields=fields)
        applied.extend(changes)
    return applied


def _audit_details(c: AppliedChange) -> dict[str, Any]:
    """Names and old/new flag, type or description; never a tracked value."""
    if c.target == "event_type":
        return {"event_type": c.attribute, "old": c.old, "new": c.new}
    details: dict[str, Any] = {"attribute": c.attribute, "old": c.old, "new": c.new}
    if c.event_type is not None:
        details = {"event_type": c.event_type, **details}
    return details


def _changes_announce(
    applied: Sequence[AppliedChange], *, project: Project, actor: Principal
) -> None:
    """Invalidate the cached catalog now; announce newly flagged attributes after commit."""
    if applied:
        catalog_invalidate(project.pk)
    flagged = [c.label for c in applied if c.field == "pii" and c.new is True]
    if flagged:
        # After commit, when the catalog lock is released: the clean-up job's items lock
        # customer rows, and an anonymization holds its customers while it waits for the
        # catalog lock, so doing it inside this transaction inverted the lock order
        # (customers, then catalog) and deadlocked (found by bench/soak_concurrency.py).
        transaction.on_commit(
            lambda: pii_flagged.send(sender=None, project=project, actor=actor, attributes=flagged)
        )
