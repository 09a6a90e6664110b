"""``{% reveal_state as rs %}``: the profile's reveal panel state for the signed-in member."""

from __future__ import annotations

from typing import Any

from django import template

from access.permissions import Perm
from accountability.reveals import (
    DEFAULT_MINUTES,
    MIN_REASON_CHARS,
    reveal_pending_for,
    reveal_policy,
)

register = template.Library()

DURATIONS = [5, 10, 15, 30, 45, 60]


@register.simple_tag(takes_context=True)
def reveal_state(context: Any) -> dict[str, Any]:
    """Whether the member may ask for a reveal of this customer, and a pending request.

    Nothing is queried for a principal with Personal data or without the permission (the
    admin's profile stays as fast as before).
    """
    principal = context.get("principal")
    customer = context.get("customer")
    if (
        principal is None
        or customer is None
        or principal.can_see_personal_data
        or not principal.has(Perm.REQUEST_PERSONAL_DATA)
        or context.get("reveal") is not None
        or customer.anonymized_at is not None
    ):
        return {"can_request": False, "pending": None}
    pending = reveal_pending_for(principal, customer.pk)
    return {
        "can_request": pending is None,
        "pending": pending,
        "requires_approval": reveal_policy(principal.project).requires_approval,
        "durations": DURATIONS,
        "default_minutes": DEFAULT_MINUTES,
        "min_reason": MIN_REASON_CHARS,
    }
