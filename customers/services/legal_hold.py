"""Legal hold: a customer that must not be anonymized until a member lifts the hold.

Placing and lifting a hold needs ``anonymize_customers`` (whoever may erase may also
stop erasure). Both lock the customer first, the same lock an anonymization takes before
it checks for holds (docs/architecture.md, "Locking and re-check"), so a hold placed while
an anonymization runs either waits for it (and then finds the customer anonymized) or is
seen by it. The reason is a member's note (a case reference); the audit log gets the
hold's internal id and the reason's length, never its text.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet

from access.errors import Conflict, InvalidInput, NotFound
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from ..models import LegalHold
from .anonymization_sql import IdIn

REASON_MAX_CHARS = 500


class CustomerOnHold(Conflict):
    """An anonymization of a held customer was refused (409)."""

    code = "legal_hold"

    def __init__(self, customer_pks: Iterable[int]) -> None:
        pks = sorted(customer_pks)
        self.customer_pks = pks
        shown = ", ".join(f"#{pk}" for pk in pks[:10])
        super().__init__(
            f"Customer {shown} is on legal hold: nothing was anonymized. "
            "Lift the hold first (customer profile, Legal holds)."
        )


def held_customer_pks(project: Project, pks: Iterable[int]) -> set[int]:
    """Which of these customers are on hold (one query; call it with the customers locked)."""
    wanted = sorted(set(pks))
    if not wanted:
        return set()
    return set(
        LegalHold.objects.filter(IdIn("customer_id", wanted), project=project).values_list(
            "customer_id", flat=True
        )
    )


def _clean_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("Give a reason for the hold (a case or ticket reference).")
    text = reason.strip()
    if len(text) > REASON_MAX_CHARS:
        raise InvalidInput(f"The reason is longer than {REASON_MAX_CHARS} characters.")
    if "\x00" in text:
        raise InvalidInput("The reason contains a NUL character.")
    return text


@transaction.atomic
def legal_hold_place(*, actor: Principal, customer_pk: int, reason: object) -> LegalHold:
    """Put a customer of the actor's project on hold; refused if held or anonymized."""
    from .tracking import lock_customers

    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    text = _clean_reason(reason)
    customer = lock_customers(actor.project, [customer_pk]).get(customer_pk)
    if customer is None:
        raise NotFound("Customer not found.")
    if customer.anonymized_at is not None:
        raise InvalidInput("The customer is already anonymized: there is nothing to hold.")
    if LegalHold.objects.filter(customer=customer).exists():
        raise Conflict(f"Customer #{customer.pk} is already on legal hold.")
    hold = LegalHold.objects.create(
        project=actor.project,
        customer=customer,
        reason=text,
        created_by_user=actor.user,
        created_by_label=actor.label[:200],
    )
    audit_record(
        actor=actor,
        action="customer.legal_hold",
        target_type="customer",
        target_id=customer.pk,
        details={"hold": hold.pk, "reason_chars": len(text)},
    )
    return hold


@transaction.atomic
def legal_hold_lift(*, actor: Principal, customer_pk: int) -> None:
    """Lift the hold on a customer; 404 if the customer or the hold does not exist."""
    from .tracking import lock_customers

    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    customer = lock_customers(actor.project, [customer_pk]).get(customer_pk)
    if customer is None:
        raise NotFound("Customer not found.")
    hold = LegalHold.objects.filter(project=actor.project, customer=customer).first()
    if hold is None:
        raise NotFound(f"Customer #{customer.pk} is not on legal hold.")
    hold_pk = hold.pk
    hold.delete()
    audit_record(
        actor=actor,
        action="customer.legal_hold_lift",
        target_type="customer",
        target_id=customer.pk,
        details={"hold": hold_pk},
    )


def legal_holds_for(actor: Principal) -> QuerySet[LegalHold]:
    """The project's holds, newest first (the holds page)."""
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    return LegalHold.objects.filter(project=actor.project).order_by("-created_at", "-id")


def legal_hold_of(actor: Principal, customer_pk: int) -> LegalHold | None:
    """The customer's hold, if any, for the profile (the actor may see holds)."""
    if not actor.has(Perm.ANONYMIZE_CUSTOMERS):
        return None
    return LegalHold.objects.filter(project=actor.project, customer_id=customer_pk).first()
