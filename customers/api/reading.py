"""Reads behind the data API, as the principal may see them: every value goes through Masker.

Each function takes the principal (scoping and permission come from
:func:`customers.selectors.customers_for`) and the request's :class:`Masker`, and returns
plain JSON-ready data in Exponea's shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from access.errors import InvalidInput, PiiFieldRefused
from access.permissions import Perm
from access.principal import Principal
from consents.selectors import consent_attribute
from datamanager.masking import Masker

from ..models import Customer, Event
from ..selectors import customer_for_ids, id_names, ids_of_customers
from ..validation import clean_ids, clean_name

MAX_ATTRIBUTES = 1000
MAX_EVENT_TYPES = 1000


def customer_find(principal: Principal, raw_ids: Any) -> Customer:
    """The customer the request's ``customer_ids`` name, within the principal's customers.

    A lookup by an ID value is a filter by that ID: a principal without Personal data may
    look a customer up by non-PII IDs only (what comes back is masked). An ID name that is
    PII is refused with the same 403 whatever the value, before any customer is read, so
    a known e-mail address neither confirms a customer nor opens their history. If the
    IDs name different customers, :func:`~customers.selectors.id_owner_pick` decides.
    """
    principal.require(Perm.VIEW_CUSTOMERS)  # before anything is read: 403, not 404
    ids = clean_ids(raw_ids, known=id_names(principal.project))
    masker = Masker.for_principal(principal)
    for name in sorted(ids):
        if masker.hides_customer_attribute(name):
            raise PiiFieldRefused(name, usage="look a customer up by")
    return customer_for_ids(principal, ids)


def ids_shaped(ids: Mapping[str, list[str]], hard: Mapping[str, bool]) -> dict[str, Any]:
    """Exponea's ``ids``: a hard ID as its single value, a soft ID as the list of values."""
    return {name: (values[0] if hard.get(name) else list(values)) for name, values in ids.items()}


def _event_out(masker: Masker, event: Event) -> dict[str, Any]:
    type_name = event.event_type.name
    return {
        "type": type_name,
        "timestamp": event.timestamp.timestamp(),
        "properties": masker.event_properties(type_name, event.properties),
    }


def customer_export_one(principal: Principal, masker: Masker, customer: Customer) -> dict[str, Any]:
    """``export-one``: IDs, properties and every event of one customer (oldest first)."""
    hard = id_names(principal.project)
    ids = ids_of_customers([customer.pk]).get(customer.pk, {})
    events = (
        Event.objects.filter(customer=customer)
        .select_related("event_type")
        .order_by("timestamp", "id")
    )
    return {
        "success": True,
        "ids": masker.customer_ids(ids_shaped(ids, hard)),
        "properties": masker.customer_properties(customer.properties),
        "events": [_event_out(masker, e) for e in events.iterator(chunk_size=2000)],
    }


def customer_attributes(
    principal: Principal, masker: Masker, customer: Customer, attributes: Any
) -> list[dict[str, Any]]:
    """One result per requested attribute, in order.

    ``property`` and ``id`` attributes answer ``{"success": true, "value": ...}`` (``null``
    when the customer has none); a PII one is masked for a key without Personal data, as
    on every other endpoint. ``consent`` answers the category's state (mode ``valid``,
    the default, or ``until``, ``timestamp``, ``message``, ``source``) through the same
    masker. Exponea's other attribute types (segmentation, expression, aggregate,
    prediction) do not exist here and answer ``{"success": false, "error": ...}``, as
    Exponea does for an attribute the key may not read.
    """
    if not isinstance(attributes, list):
        raise InvalidInput("attributes must be a list.")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(f"At most {MAX_ATTRIBUTES} attributes per request.")
    hard = id_names(principal.project)
    ids: dict[str, list[str]] | None = None
    results: list[dict[str, Any]] = []
    for position, item in enumerate(attributes, start=1):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "property":
            name = item.get("property")
            if not isinstance(name, str) or not name:
                results.append({"success": False, "error": f"Attribute {position}: no property."})
                continue
            value = customer.properties.get(name)
            results.append({"success": True, "value": masker.customer_value(name, value)})
        elif kind == "id":
            name = item.get("id")
            if not isinstance(name, str) or name not in hard:
                results.append({"success": False, "error": f"Attribute {position}: unknown ID."})
                continue
            if ids is None:
                ids = ids_of_customers([customer.pk]).get(customer.pk, {})
            shaped = ids_shaped({name: ids[name]}, hard) if name in ids else {name: None}
            results.append({"success": True, "value": masker.customer_ids(shaped)[name]})
        elif kind == "consent":  # reference/customer-consents-2 (consents/selectors.py)
            results.append(consent_attribute(masker, customer, item, position))
        else:
            results.append(
                {
                    "success": False,
                    "error": f"Attribute {position}: type not supported; use 'property' or 'id'.",
                }
            )
    return results


def _int_param(value: Any, *, what: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{what} must be a whole number of at least {minimum}.")
    return value


def customer_events(
    principal: Principal,
    masker: Masker,
    customer: Customer,
    *,
    event_types: Any,
    order: Any = None,
    limit_: Any = None,
    skip: Any = None,
) -> list[dict[str, Any]]:
    """The customer's events of the given types, by timestamp (``asc`` by default)."""
    if not isinstance(event_types, list) or not event_types:
        raise InvalidInput("event_types must be a non-empty list of event type names.")
    if len(event_types) > MAX_EVENT_TYPES:
        raise InvalidInput(f"At most {MAX_EVENT_TYPES} event types per request.")
    names = [clean_name(name, what="An event type") for name in event_types]
    if order is None:
        order = "asc"
    if order not in ("asc", "desc"):
        raise InvalidInput("order must be 'asc' or 'desc'.")
    count = _int_param(limit_, what="limit", minimum=1)
    offset = _int_param(skip, what="skip", minimum=0) or 0
    # A silly offset must not become a database error (PostgreSQL's bigint).
    if offset > 2**62 or (count is not None and count > 2**62):
        raise InvalidInput("limit and skip are too large.")
    ordering = ("timestamp", "id") if order == "asc" else ("-timestamp", "-id")
    events = (
        Event.objects.filter(customer=customer, event_type__name__in=names)
        .select_related("event_type")
        .order_by(*ordering)
    )
    window = events[offset : offset + count] if count is not None else events[offset:]
    return [_event_out(masker, e) for e in window]
