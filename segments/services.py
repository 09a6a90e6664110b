"""Saving, listing, applying and deleting segments; every write is audited.

Applying a segment (:func:`segment_filter`) returns its :class:`CustomerFilter`; callers
evaluate it with :func:`customers.filters.customers_matching`, which refuses a PII
condition for a principal without Personal data — so a segment someone else saved with a
PII condition is refused to whoever may not see that attribute (403 naming it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from access.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from customers.filters import CustomerFilter
from customers.filters.sql import check_filter_allowed
from datamanager.masking import Masker

from .models import Segment

NAME_MAX = 120


def _clean_name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise InvalidInput("Give the segment a name.")
    if len(name) > NAME_MAX or "\x00" in name or not name.isprintable():
        raise InvalidInput(f"A segment name is at most {NAME_MAX} printable characters.")
    return name


def _details(segment: Segment, customer_filter: CustomerFilter) -> dict[str, Any]:
    return {
        "segment": str(segment.public_id),
        "name_chars": len(segment.name),
        "conditions": len(customer_filter.describe()),
    }


def segment_save(*, actor: Principal, name: object, customer_filter: CustomerFilter) -> Segment:
    """Save the filter under a new name (409 if the project has a segment of that name).
    The actor must be allowed to apply the filter (PII conditions need Personal data)."""
    actor.require(Perm.VIEW_CUSTOMERS)
    clean = _clean_name(name)
    if customer_filter.is_empty:
        raise InvalidInput("Add at least one condition before saving a segment.")
    check_filter_allowed(actor, customer_filter)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                project=actor.project,
                name=clean,
                definition=customer_filter.to_api(),
                created_by_label=actor.label[:200],
            )
            audit_record(
                actor=actor,
                action="segment.create",
                target_type="segment",
                target_id=segment.pk,
                details=_details(segment, customer_filter),
            )
    except IntegrityError:
        raise Conflict("A segment of that name exists already: choose another name.") from None
    return segment


def segment_get(actor: Principal, public_id: object) -> Segment:
    actor.require(Perm.VIEW_CUSTOMERS)
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        raise NotFound("Segment not found.") from None
    segment = Segment.objects.filter(project=actor.project, public_id=key).first()
    if segment is None:
        raise NotFound("Segment not found.")
    return segment


def segment_filter(actor: Principal, public_id: object) -> CustomerFilter:
    """The segment's filter, to evaluate with ``customers_matching`` (which checks PII)."""
    return CustomerFilter.from_api(segment_get(actor, public_id).definition)


@transaction.atomic
def segment_delete(*, actor: Principal, public_id: object) -> None:
    """Delete a segment: its author, or a member with ``manage_data``."""
    segment = segment_get(actor, public_id)
    if segment.created_by_label != actor.label and not actor.has(Perm.MANAGE_DATA):
        raise Forbidden("Only the segment's author or a data manager may delete it.")
    details = _details(segment, CustomerFilter.from_api(segment.definition))
    pk = segment.pk
    segment.delete()
    audit_record(
        actor=actor, action="segment.delete", target_type="segment", target_id=pk, details=details
    )


@dataclass(frozen=True)
class SegmentRow:
    segment: Segment
    customer_filter: CustomerFilter
    usable: bool  # False: it uses personal data the principal may not see
    refused: str  # which attribute, when not usable


def segments_for(actor: Principal, *, masker: Masker | None = None) -> list[SegmentRow]:
    """The project's segments, each marked usable or not for this principal (one query;
    pass the request's ``masker`` to reuse its catalog)."""
    actor.require(Perm.VIEW_CUSTOMERS)
    masker = masker or Masker.for_principal(actor)
    rows = []
    for segment in Segment.objects.filter(project=actor.project):
        customer_filter = CustomerFilter.from_api(segment.definition)
        refused = ""
        try:
            check_filter_allowed(actor, customer_filter, masker=masker)
        except DomainError as exc:
            refused = getattr(exc, "attribute", "") or exc.message
        rows.append(
            SegmentRow(
                segment=segment,
                customer_filter=customer_filter,
                usable=not refused,
                refused=refused,
            )
        )
    return rows
