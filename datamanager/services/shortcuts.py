"""Catalog writes for setup code (seeding, scripts, tests), each through the audited save."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from access.errors import InvalidInput
from access.principal import Principal
from access.services import audit_record

from ..catalog import catalog_invalidate
from ..models import AttributeKind, CustomerAttribute
from .catalog_changes import catalog_changes_apply
from .change_types import CustomerAttributeChange, EventAttributeChange


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


def attribute_declare(
    *, actor: Principal, name: str, kind: str = AttributeKind.PROPERTY, pii: bool = False
) -> CustomerAttribute:
    """Declare a customer attribute before it is tracked (used by setup scripts and tests).

    A new name is one ``datamanager.attribute_declare`` audit event (the name and kind,
    never a value) and invalidates the cached catalog, like every other catalog write.
    """
    if kind not in AttributeKind.values:
        raise InvalidInput(f"Unknown attribute kind '{kind}'.")
    attr, created = CustomerAttribute.objects.get_or_create(
        project=actor.project, name=name, defaults={"kind": kind}
    )
    if created:
        audit_record(
            actor=actor,
            action="datamanager.attribute_declare",
            target_type="customer_attribute",
            target_id=attr.pk,
            details={"attribute": name, "kind": kind},
        )
        catalog_invalidate(actor.project.pk)
    if pii and not attr.pii:
        pii_flags_set(actor=actor, customer_attributes={name: True})
        attr.refresh_from_db()
    return attr
