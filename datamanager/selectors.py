"""Reads of the attribute catalog shared by the Data manager page and its API.

Tracked values are sampled from the most recent rows only, so the page costs the same on a
project with a thousand customers or ten million. For a PII attribute and a principal
without Personal data, no value is selected from the database at all: the attribute's
sample says only that it is personal data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.apps import apps
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTextTransform

from access.permissions import Perm
from access.principal import Principal

from .masking import Masker
from .models import AttributeKind, AttributeType, CustomerAttribute, EventAttribute, EventType
from .suggestions import pii_suggestion

SAMPLE_ROWS = 1000  # most recent customers / events per type read for a sample
TOP_VALUES = 5  # distinct values shown per attribute
PATTERN_VALUES = 50  # distinct values kept for the suggestion patterns
VALUE_DISPLAY_MAX = 80  # longer values are cut for display
ANNOTATIONS_PER_QUERY = 50


@dataclass
class AttributeSample:
    """What the most recent rows hold for one attribute, as the principal may see it."""

    personal_data_hidden: bool = False
    rows_scanned: int = 0
    rows_with_value: int = 0
    top: list[tuple[str, int]] = field(default_factory=list)
    distinct: int = 0
    # Kept for suggestions only (never rendered): distinct raw strings, bounded.
    pattern_values: list[str] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        if self.personal_data_hidden:
            return {"personal_data": True}
        return {
            "personal_data": False,
            "rows_scanned": self.rows_scanned,
            "rows_with_value": self.rows_with_value,
            "distinct": self.distinct,
            "values": [{"value": v, "count": c} for v, c in self.top],
        }


@dataclass
class TrackedValues:
    """Samples per customer attribute name and per ``(event type, attribute)``."""

    customer: dict[str, AttributeSample] = field(default_factory=dict)
    events: dict[tuple[str, str], AttributeSample] = field(default_factory=dict)


def customer_attributes_for(principal: Principal) -> QuerySet[CustomerAttribute]:
    """The project's customer attributes, IDs first (``registered``, ``cookie``), then by name."""
    principal.require(Perm.VIEW_CUSTOMERS)
    return CustomerAttribute.objects.filter(project=principal.project).order_by("kind", "name")


def event_types_for(principal: Principal) -> list[EventType]:
    """The project's event types with their attributes prefetched (two queries)."""
    principal.require(Perm.VIEW_CUSTOMERS)
    return list(
        EventType.objects.filter(project=principal.project)
        .prefetch_related("attributes")
        .order_by("system", "name")
    )


def _display(raw: Any, type_: str) -> str:
    """A sampled value as text, the same on PostgreSQL (``->>`` text) and SQLite (JSON)."""
    if type_ == AttributeType.BOOLEAN and raw in (0, 1, "0", "1", True, False):
        raw = "true" if raw in (1, "1", True) else "false"
    text = str(raw)
    return text if len(text) <= VALUE_DISPLAY_MAX else text[: VALUE_DISPLAY_MAX - 1] + "…"


def _summarize(
    values: list[Any], rows: int, type_: str, mask: Callable[[Any], Any]
) -> AttributeSample:
    present = [v for v in values if v is not None and v != ""]
    counts = Counter(_display(v, type_) for v in present)
    pattern = [str(v) for v in dict.fromkeys(present) if isinstance(v, str)][:PATTERN_VALUES]
    return AttributeSample(
        rows_scanned=rows,
        rows_with_value=len(present),
        # Every shown value still goes through the Masker (a no-op here: hidden attributes
        # were never read), so a mistake above cannot turn into a leak.
        top=[(str(mask(v)), c) for v, c in counts.most_common(TOP_VALUES)],
        distinct=len(counts),
        pattern_values=pattern,
    )


def _sample_json_keys(
    queryset: QuerySet[Any], names: list[str], rows: int
) -> tuple[dict[str, list[Any]], int]:
    """Extract only ``names`` from the ``properties`` JSON of the first ``rows`` rows."""
    out: dict[str, list[Any]] = {n: [] for n in names}
    scanned = 0
    for start in range(0, len(names), ANNOTATIONS_PER_QUERY):
        chunk = names[start : start + ANNOTATIONS_PER_QUERY]
        aliases = {f"v{i}": KeyTextTransform(n, "properties") for i, n in enumerate(chunk)}
        result = list(queryset.annotate(**aliases).values_list(*aliases)[:rows])
        scanned = len(result)
        for row in result:
            for name, value in zip(chunk, row, strict=True):
                out[name].append(value)
    return out, scanned


def tracked_values(
    principal: Principal,
    *,
    rows: int = SAMPLE_ROWS,
    attributes: list[CustomerAttribute] | None = None,
    event_types: list[EventType] | None = None,
) -> TrackedValues:
    """Distinct values and counts per attribute from the most recent ``rows`` rows.

    ``attributes`` / ``event_types`` may be passed when the caller already loaded them
    (they must be the principal's project's). Customer data is read by app label, not by
    import: ``customers`` depends on ``datamanager``, not the other way round.
    """
    principal.require(Perm.VIEW_CUSTOMERS)
    masker = Masker.for_principal(principal)
    project = principal.project
    result = TrackedValues()
    Customer = apps.get_model("customers", "Customer")
    CustomerId = apps.get_model("customers", "CustomerId")
    Event = apps.get_model("customers", "Event")

    attrs = attributes if attributes is not None else list(customer_attributes_for(principal))
    visible = [a for a in attrs if not masker.hides_customer_attribute(a.name)]
    for attr in attrs:
        if masker.hides_customer_attribute(attr.name):
            result.customer[attr.name] = AttributeSample(personal_data_hidden=True)

    props = [a for a in visible if a.kind == AttributeKind.PROPERTY]
    if props:
        recent = Customer.objects.filter(project=project).order_by("-updated_at", "-id")
        sampled, scanned = _sample_json_keys(recent, [a.name for a in props], rows)
        for attr in props:
            result.customer[attr.name] = _summarize(
                sampled[attr.name],
                scanned,
                attr.type,
                partial(masker.customer_value, attr.name),
            )
    for attr in (a for a in visible if a.kind == AttributeKind.ID):
        ids = list(
            CustomerId.objects.filter(project=project, name=attr.name)
            .order_by("-id")
            .values_list("value", flat=True)[:rows]
        )
        result.customer[attr.name] = _summarize(
            ids, len(ids), attr.type, partial(masker.customer_value, attr.name)
        )

    if event_types is None:
        event_types = event_types_for(principal)
    for event_type in event_types:
        shown: list[EventAttribute] = []
        for event_attr in event_type.attributes.all():
            key = (event_type.name, event_attr.name)
            if masker.hides_event_attribute(event_type.name, event_attr.name):
                result.events[key] = AttributeSample(personal_data_hidden=True)
            else:
                shown.append(event_attr)
        if not shown:
            continue
        recent_events = Event.objects.filter(project=project, event_type=event_type).order_by(
            "-timestamp", "-id"
        )
        sampled, scanned = _sample_json_keys(recent_events, [a.name for a in shown], rows)
        for event_attr in shown:
            result.events[(event_type.name, event_attr.name)] = _summarize(
                sampled[event_attr.name],
                scanned,
                event_attr.type,
                partial(masker.event_value, event_type.name, event_attr.name),
            )
    return result


def suggestions_for(
    customer_attributes: list[CustomerAttribute],
    event_types: list[EventType],
    samples: TrackedValues,
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Reasons per not-yet-flagged attribute that looks like personal data."""
    customer: dict[str, str] = {}
    for attr in customer_attributes:
        if attr.pii:
            continue
        sample = samples.customer.get(attr.name)
        reason = pii_suggestion(
            name=attr.name,
            type=attr.type,
            is_id=attr.kind == AttributeKind.ID,
            values=sample.pattern_values if sample else (),
        )
        if reason:
            customer[attr.name] = reason
    events: dict[tuple[str, str], str] = {}
    for event_type in event_types:
        if event_type.system:
            continue  # tracked by the product itself, with no personal data
        for event_attr in event_type.attributes.all():
            if event_attr.pii:
                continue
            key = (event_type.name, event_attr.name)
            sample = samples.events.get(key)
            reason = pii_suggestion(
                name=event_attr.name,
                type=event_attr.type,
                values=sample.pattern_values if sample else (),
            )
            if reason:
                events[key] = reason
    return customer, events
