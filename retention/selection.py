"""What a retention policy selects, as querysets: the one definition the preview counts and
the run removes, chunk by chunk, with the same cutoff.

- A customer's *last activity* is the later of its last event and its last update
  (``updated_at``); a customer is inactive since ``cutoff`` when both are older.
- Customers on legal hold are never selected, nor are their events.
- A customer policy may be limited to a saved segment (its filter, frozen in the run).
- Anonymized customers are not selected for attribute removal or anonymization (they hold
  no personal data any more); their events are, by the event policies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet

from access.models import Project
from customers.filters import CustomerFilter
from customers.filters.sql import filter_q
from customers.models import Customer, Event, LegalHold
from customers.services.anonymization_sql import sqlite_path_matches
from datamanager.catalog import catalog_for_project

from .models import RetentionPolicy

Kind = RetentionPolicy.Kind


class HasAnyKey(Func):
    """True when the JSON object column holds one of ``keys`` as a top-level key.

    PostgreSQL: ``?|`` (keys as decoded text). SQLite: Django's ``has_key`` is a JSON path,
    which matches a key as *stored*, and Django stores ``příjmení`` escaped; a path then
    finds nothing and a retention policy on such an attribute would silently select nobody.
    Keys a path cannot spell are matched on ``json_each``'s decoded ``key`` instead.
    """

    output_field = BooleanField()

    def __init__(self, column: str, keys: list[str]) -> None:
        self.keys = sorted(set(keys))
        super().__init__(F(column))

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ?| %s::text[])", (*params, self.keys)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.source_expressions[0])
        marks = ", ".join(["%s"] * len(self.keys))
        if all(sqlite_path_matches(key) for key in self.keys):
            paths = " OR ".join([f"json_type({sql}, %s) IS NOT NULL"] * len(self.keys))
            path_params = [p for key in self.keys for p in (*params, f'$."{key}"')]
            return f"({paths})", tuple(path_params)
        # Only placeholders and the compiled column are interpolated; keys are parameters.
        return (
            f"EXISTS (SELECT 1 FROM json_each({sql}) WHERE key IN ({marks}))",  # noqa: S608
            (*params, *self.keys),
        )


def _not_held(project: Project) -> Q:
    held = LegalHold.objects.filter(project=project, customer_id=OuterRef("pk"))
    return ~Q(Exists(held))


def inactive_customers(project: Project, cutoff: dt.datetime) -> QuerySet[Customer]:
    """Customers of ``project`` not updated and without events since ``cutoff``, not held."""
    recent = Event.objects.filter(customer_id=OuterRef("pk"), timestamp__gte=cutoff)
    return (
        Customer.objects.filter(project=project, updated_at__lt=cutoff)
        .filter(~Q(Exists(recent)))
        .filter(_not_held(project))
    )


def event_pii_names(project: Project, event_type: str) -> list[str]:
    """The event type's attributes flagged PII in the Data manager, sorted."""
    return sorted(catalog_for_project(project.pk).event_pii(event_type))


def customers_selected(
    project: Project,
    kind: str,
    attribute: str,
    cutoff: dt.datetime,
    segment_filter: Mapping[str, Any] | None = None,
) -> QuerySet[Customer]:
    """The customers an ATTRIBUTE or ANONYMIZE policy acts on now; only those of the saved
    segment whose filter (its JSON form) is given, if one is."""
    customers = inactive_customers(project, cutoff).filter(anonymized_at__isnull=True)
    if segment_filter:
        customers = customers.filter(
            filter_q(CustomerFilter.from_api(segment_filter), project_id=project.pk)
        )
    if kind == Kind.ATTRIBUTE:
        return customers.filter(HasAnyKey("properties", [attribute]))
    return customers


def events_selected(
    project: Project, kind: str, event_type: str, cutoff: dt.datetime
) -> QuerySet[Event]:
    """The events an EVENTS_DELETE or EVENTS_STRIP policy acts on now."""
    held = LegalHold.objects.filter(project=project, customer_id=OuterRef("customer_id"))
    events = Event.objects.filter(
        project=project, event_type__name=event_type, timestamp__lt=cutoff
    ).filter(~Q(Exists(held)))
    if kind == Kind.EVENTS_STRIP:
        names = event_pii_names(project, event_type)
        if not names:
            return events.none()
        return events.filter(HasAnyKey("properties", names))
    return events


def selected_count(
    project: Project,
    kind: str,
    target: str,
    cutoff: dt.datetime,
    segment_filter: Mapping[str, Any] | None = None,
) -> int:
    """How many customers (ATTRIBUTE, ANONYMIZE) or events (EVENTS_*) a run would change."""
    if kind in (Kind.ATTRIBUTE, Kind.ANONYMIZE):
        selected = customers_selected(project, kind, target, cutoff, segment_filter)
        return selected.order_by().count()
    return events_selected(project, kind, target, cutoff).order_by().count()


def held_count(project: Project) -> int:
    return LegalHold.objects.filter(project=project).count()
