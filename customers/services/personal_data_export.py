"""The personal-data export of one customer (GDPR Art. 15 access, Art. 20 portability).

One document with everything the project holds about the person: every ID, every property
with its type and whether it is PII, every event, the consent state and history (from the
customer's ``consent`` events, Exponea's consent tracking), who was shown the customer's
personal data (the access log) and the anonymization state with its erasure receipts.
:func:`personal_data_export` decides and records up front, in one transaction: the
permissions (``export_customers`` and Personal data), the audit event and the personal-data
access-log entry. The events are then read lazily, in keyset chunks, while the response
streams, so a customer with 100 k events exports in bounded memory.

Two renderings of the same :class:`PersonalDataDocument`: JSON (:func:`json_blocks`, the
machine-readable copy, also the API's answer) and HTML (the view renders the head and then
the event rows chunk by chunk). Every value goes through the request's
:class:`~datamanager.masking.Masker`; the export is refused to a principal without Personal
data, so nothing would be masked, but the masker is what records which PII names were
shown (the access-log entry names them), and a masking change cannot bypass it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from accountability.models import Channel
from accountability.selectors import access_history
from accountability.services import access_record
from consents.selectors import consent_states
from datamanager.masking import Masker
from datamanager.models import AttributeKind, CustomerAttribute

from ..models import Customer, ErasureReceipt, Event, EventType
from ..selectors import customer_get, ids_of_customers
from .erasure_receipt import receipt_document
from .legal_hold import legal_hold_of

FORMAT = "exponea_pii.personal_data_export/1"
# Events per query while streaming (keyset by timestamp, id): bounded memory at any size.
EVENT_CHUNK = 2000
# Exponea tracks consents as events of this type (category, action, valid_until).
CONSENT_EVENT_TYPE = "consent"
CONSENT_HISTORY_LIMIT = 1000
ACCESS_HISTORY_LIMIT = 1000


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


@dataclass
class PersonalDataDocument:
    """The head of the document (small, built up front) and a lazy stream of its events."""

    head: dict[str, Any]
    customer: Customer
    masker: Masker
    event_types: dict[int, str]
    filename: str
    event_count: int
    _consumed: bool = field(default=False, repr=False)

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event, oldest first, as ``{type, timestamp, time, properties}``."""
        after: tuple[dt.datetime, int] | None = None
        base = Event.objects.filter(customer=self.customer).order_by("timestamp", "id")
        while True:
            page = base
            if after is not None:
                ts, pk = after
                page = base.filter(Q(timestamp__gt=ts) | Q(timestamp=ts, id__gt=pk))
            rows = list(
                page.values_list("id", "timestamp", "event_type_id", "properties")[:EVENT_CHUNK]
            )
            for _pk, timestamp, type_pk, properties in rows:
                event_type = self.event_types.get(type_pk, "")
                yield {
                    "type": event_type,
                    "timestamp": timestamp.timestamp(),
                    "time": _iso(timestamp),
                    "properties": self.masker.event_properties(event_type, properties or {}),
                }
            if len(rows) < EVENT_CHUNK:
                return
            after = (rows[-1][1], rows[-1][0])


def _ids_section(masker: Masker, customer: Customer) -> list[dict[str, Any]]:
    rows = CustomerAttribute.objects.filter(
        project_id=customer.project_id, kind=AttributeKind.ID
    ).values_list("name", "hard", "pii")
    catalog = {name: (hard, pii) for name, hard, pii in rows}
    ids = ids_of_customers([customer.pk]).get(customer.pk, {})
    out = []
    for name in sorted(ids):
        hard, pii = catalog.get(name, (False, True))
        values = masker.id_values(name, list(ids[name]))
        out.append({"name": name, "hard": hard, "pii": pii, "values": values})
    return out


def _properties_section(masker: Masker, customer: Customer) -> list[dict[str, Any]]:
    catalog = dict(
        CustomerAttribute.objects.filter(
            project_id=customer.project_id, kind=AttributeKind.PROPERTY
        ).values_list("name", "type")
    )
    stamps = customer.property_timestamps or {}
    out = []
    for name in sorted(customer.properties or {}):
        value = customer.properties[name]
        stamp = stamps.get(name)
        out.append(
            {
                "name": name,
                "value": masker.customer_value(name, value),
                "type": catalog.get(name) or _json_type(value),
                "json_type": _json_type(value),
                "pii": masker.catalog.is_pii_customer_attribute(name),
                "updated": stamp,
            }
        )
    return out


def _consents_section(masker: Masker, customer: Customer) -> dict[str, Any]:
    """The state per consent category of the project (consents/: the latest consent event
    decides, as Exponea documents) and the history of every consent event, newest first."""
    state = [
        {
            "category": s.category.name,
            "granted": s.valid,
            "legitimate_interest": s.category.legitimate_interest,
            "since": _iso(s.last.timestamp) if s.last is not None else None,
            "valid_until": s.until,
        }
        for s in consent_states(masker, customer)
    ]
    rows = list(
        Event.objects.filter(customer=customer, event_type__name=CONSENT_EVENT_TYPE)
        .order_by("-timestamp", "-id")
        .values_list("timestamp", "properties")[:CONSENT_HISTORY_LIMIT]
    )
    history = []
    for timestamp, properties in rows:
        shown = masker.event_properties(CONSENT_EVENT_TYPE, properties or {})
        history.append(
            {
                "time": _iso(timestamp),
                "category": shown.get("category"),
                "action": shown.get("action"),
                "valid_until": shown.get("valid_until"),
            }
        )
    return {"state": state, "history": history}


def _access_section(actor: Principal, customer: Customer) -> dict[str, Any]:
    if not actor.has(Perm.VIEW_ACCESS_LOG):
        return {
            "included": False,
            "note": "Needs the 'view_access_log' permission; ask a project admin.",
            "entries": [],
        }
    entries = access_history(actor, [customer.pk], limit=ACCESS_HISTORY_LIMIT)
    return {
        "included": True,
        "entries": [
            {
                "time": _iso(e.created_at),
                "principal": e.actor_label,
                "channel": e.channel,
                "view": e.view,
                "attribute_names": e.attribute_names,
                "reason": e.reason,
            }
            for e in entries
        ],
    }


def _anonymization_section(actor: Principal, customer: Customer) -> dict[str, Any]:
    receipts = ErasureReceipt.objects.filter(customer=customer).select_related("job")[:20]
    hold = legal_hold_of(actor, customer.pk)
    return {
        "anonymized": customer.anonymized_at is not None,
        "anonymized_at": _iso(customer.anonymized_at),
        "legal_hold": (
            {"since": _iso(hold.created_at), "by": hold.created_by_label} if hold else None
        ),
        "receipts": [receipt_document(r) for r in receipts],
    }


@transaction.atomic
def personal_data_export(
    *, actor: Principal, customer_pk: int, via: str = "page", rendering: str = "json"
) -> PersonalDataDocument:
    """Everything held about one customer of the actor's project, audited and logged.

    Needs ``export_customers`` and Personal data (403 otherwise); a customer of another
    project is a 404. ``via`` is ``page`` or ``api`` (the access log's view name),
    ``rendering`` ``json`` or ``html`` (recorded in the audit event).
    """
    actor.require(Perm.VIEW_CUSTOMERS)
    actor.require(Perm.EXPORT_CUSTOMERS)
    actor.require(Perm.VIEW_PERSONAL_DATA)
    customer = customer_get(actor, customer_pk)
    masker = Masker.for_principal(actor)
    event_types = dict(
        EventType.objects.filter(project_id=customer.project_id).values_list("pk", "name")
    )
    type_counts = dict(
        Event.objects.filter(customer=customer)
        .values_list("event_type_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    event_count = sum(type_counts.values())
    head: dict[str, Any] = {
        "format": FORMAT,
        "exported_at": _iso(timezone.now()),
        "exported_by": actor.label,
        "project": {"token": actor.project.token, "name": actor.project.name},
        "customer": {
            "internal_id": customer.pk,
            "created_at": _iso(customer.created_at),
            "updated_at": _iso(customer.updated_at),
        },
        "ids": _ids_section(masker, customer),
        "properties": _properties_section(masker, customer),
        "consents": _consents_section(masker, customer),
        "access_history": _access_section(actor, customer),
        "anonymization": _anonymization_section(actor, customer),
        "event_counts": {event_types.get(pk, ""): n for pk, n in sorted(type_counts.items())},
        "event_count": event_count,
    }
    # What the stream will show: every PII name now in the head plus the PII attributes of
    # the customer's event types (the rows stream after this transaction).
    shown = set(masker.revealed)
    for type_pk in type_counts:
        name = event_types.get(type_pk, "")
        shown.update(f"{name}.{attr}" for attr in masker.catalog.event_pii(name))
    audit_record(
        actor=actor,
        action="customer.personal_data_export",
        target_type="customer",
        target_id=customer.pk,
        details={"rendering": rendering, "events": event_count},
    )
    access_record(
        actor=actor,
        channel=Channel.EXPORT,
        view=f"{'api' if via == 'api' else 'customers'}.personal-data-export",
        attribute_names=shown,
        customer_ids=[customer.pk],
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return PersonalDataDocument(
        head=head,
        customer=customer,
        masker=masker,
        event_types=event_types,
        filename=f"personal-data-customer-{customer.pk}-{stamp}.json",
        event_count=event_count,
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def json_blocks(document: PersonalDataDocument, *, block_events: int = 500) -> Iterator[bytes]:
    """The document as one JSON object, streamed: the head, then ``"events": [...]``."""
    head = _dump(document.head)
    yield (head[:-1] + ',"events":[').encode()
    batch: list[str] = []
    first = True
    for event in document.events():
        batch.append(_dump(event))
        if len(batch) >= block_events:
            yield (("" if first else ",") + ",".join(batch)).encode()
            first = False
            batch = []
    if batch:
        yield (("" if first else ",") + ",".join(batch)).encode()
    yield b"]}"
