"""Reads about consents: the project's categories and a customer's consent state.

The state of a category is derived from the customer's ``consent`` events, as Exponea
documents (``docs/tracking-consent``): the latest event of the category decides. It is
valid when that event's ``action`` is ``accept`` and its ``valid_until`` is ``unlimited``
or a time in the future; a ``reject``, an expired or an invalid event (unknown action,
missing or unreadable ``valid_until``) means not valid — Exponea revokes on an invalid
event "to stay on the safe side". A legitimate-interest category with no event is valid
(processing needs no consent until the customer objects).

Every value shown goes through the request's :class:`~datamanager.masking.Masker`: the
consent event's attributes may be flagged as personal data in the Data manager (a
``message`` or ``email`` attribute usually is), and a state derived from a hidden
attribute (``action``, ``category``, ``valid_until``) is masked as a whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from access.errors import NotFound
from access.models import Project
from access.principal import Principal
from customers.models import Customer, Event
from datamanager.masking import MASKED, Masker

from .models import ConsentCategory

CONSENT_EVENT = "consent"
# Attributes the state is computed from: if one is hidden, so is the state.
STATE_ATTRIBUTES = ("action", "category", "valid_until")
MODES = ("valid", "until", "timestamp", "message", "source")
MAX_HISTORY = 500


def categories_for(project: Project) -> QuerySet[ConsentCategory]:
    return ConsentCategory.objects.filter(project=project).order_by("name", "id")


def category_in_project(principal: Principal, pk: Any) -> ConsentCategory:
    try:
        return ConsentCategory.objects.get(pk=int(pk), project=principal.project)
    except (ConsentCategory.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("Consent category not found.") from exc


def categories_exponea_shape(project: Project) -> list[dict[str, Any]]:
    """``GET consent/categories`` results (``reference/get-consent-categories-2``)."""
    return [
        {
            "id": c.name,
            "legitimate_interest": c.legitimate_interest,
            # Where a consent may come from; this service takes them from its API only.
            "sources": {"private_api": True, "public_api": True, "import": True},
            "translations": {"": {"description": c.description or None, "name": c.display_name}},
        }
        for c in categories_for(project)
    ]


def _until(value: Any) -> float | str | None:
    """``valid_until`` as seconds, ``"unlimited"``, or None when unreadable."""
    if value == "unlimited":
        return "unlimited"
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.timestamp()
    return None


def event_is_valid(properties: dict[str, Any], now: float) -> bool:
    if properties.get("action") != "accept":
        return False
    until = _until(properties.get("valid_until"))
    return until == "unlimited" or (isinstance(until, float) and until > now)


@dataclass(frozen=True)
class ConsentState:
    """One category's state for one customer, as the principal may see it."""

    category: ConsentCategory
    valid: bool | str  # MASKED when derived from a hidden attribute
    last: Event | None
    until: Any
    message: Any
    source: Any
    history: list[dict[str, Any]]

    @property
    def timestamp(self) -> float | None:
        return self.last.timestamp.timestamp() if self.last is not None else None


def consent_events(customer: Customer) -> list[Event]:
    """The customer's consent events, oldest first (at most :data:`MAX_HISTORY`, newest)."""
    newest = list(
        Event.objects.filter(customer=customer, event_type__name=CONSENT_EVENT)
        .select_related("event_type")
        .order_by("-timestamp", "-id")[:MAX_HISTORY]
    )
    return newest[::-1]


def consent_states(
    masker: Masker, customer: Customer, categories: list[ConsentCategory] | None = None
) -> list[ConsentState]:
    """Every category's state (or those given) with its history, masked for the principal."""
    if categories is None:
        categories = list(categories_for(customer.project))
    events = consent_events(customer)
    now = timezone.now().timestamp()
    state_hidden = any(masker.hides_event_attribute(CONSENT_EVENT, a) for a in STATE_ATTRIBUTES)
    out: list[ConsentState] = []
    for category in categories:
        mine = [e for e in events if e.properties.get("category") == category.name]
        last = mine[-1] if mine else None
        if last is None:
            valid: bool | str = category.legitimate_interest
        elif state_hidden:
            valid = MASKED
        else:
            valid = event_is_valid(last.properties, now)
        props = last.properties if last is not None else {}
        out.append(
            ConsentState(
                category=category,
                valid=valid,
                last=last,
                until=masker.event_value(CONSENT_EVENT, "valid_until", props.get("valid_until")),
                message=masker.event_value(CONSENT_EVENT, "message", props.get("message")),
                source=masker.event_value(CONSENT_EVENT, "source", props.get("source")),
                history=[
                    {
                        "timestamp": e.timestamp,
                        "properties": masker.event_properties(CONSENT_EVENT, e.properties),
                    }
                    for e in reversed(mine)
                ],
            )
        )
    return out


def consent_attribute(
    masker: Masker, customer: Customer, item: dict[str, Any], position: int
) -> dict[str, Any]:
    """One ``{"type": "consent", "category", "mode"?}`` result of ``customers/attributes``
    (``reference/customer-consents-2``): ``valid`` (default), ``until``, ``timestamp``,
    ``message`` or ``source`` of the category's latest consent event."""
    name = item.get("category")
    mode = item.get("mode", "valid")
    if mode not in MODES:
        return {"success": False, "error": f"Attribute {position}: unknown consent mode."}
    category = (
        ConsentCategory.objects.filter(project_id=customer.project_id, name=name).first()
        if isinstance(name, str)
        else None
    )
    if category is None:
        return {"success": False, "error": f"Attribute {position}: unknown consent category."}
    state = consent_states(masker, customer, [category])[0]
    value: Any = {
        "valid": state.valid,
        "until": state.until,
        "timestamp": state.timestamp,
        "message": state.message,
        "source": state.source,
    }[mode]
    return {"success": True, "value": value}
