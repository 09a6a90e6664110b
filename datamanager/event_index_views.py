"""The Data manager's "Filter indexes" panel on the Events tab: which number and text event
attributes have an index for the customer filter, its state and size, what it costs, and
the button that changes it (``datamanager/event_indexes.py``).

``POST /projects/<token>/data-manager/event-indexes/`` (``manage_data``) with
``index_on=<attribute id>`` or ``index_off=<attribute id>``; the index is built or dropped
in the background. The buttons belong to their own form (``form="dm-event-index-form"``),
outside the catalog form, as the Search panel's do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import View

from access.errors import InvalidInput
from access.permissions import Perm
from access.views_base import ProjectViewMixin

from .event_indexes import (
    INDEXABLE_TYPES,
    NUMBER_TYPES,
    filter_index_cost,
    filter_index_set,
    filter_index_status,
)
from .models import EventAttribute, SearchIndexState
from .search_indexes import SearchIndexStatus


@dataclass(frozen=True)
class EventIndexRow:
    attribute: EventAttribute
    status: SearchIndexStatus | None

    @property
    def serves(self) -> str:
        if self.attribute.type in NUMBER_TYPES:
            return "equals, greater, less, between"
        return "equals"

    @property
    def size_mb(self) -> str:
        size = self.status.size_bytes if self.status else None
        if not size:
            return ""
        return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e3:,.0f} kB"


@dataclass
class EventIndexPanel:
    rows: list[EventIndexRow] = field(default_factory=list)
    indexed: bool = False  # PostgreSQL builds them; SQLite scans
    cost: dict[str, str] = field(default_factory=dict)


def event_index_panel(attributes: list[EventAttribute]) -> EventIndexPanel:
    """The panel for the catalog page: one catalog query on PostgreSQL when an index
    exists or is asked for, none otherwise (the costs are quoted per million events)."""
    indexable = [a for a in attributes if a.type in INDEXABLE_TYPES]
    statuses = filter_index_status(indexable)
    return EventIndexPanel(
        rows=[EventIndexRow(a, statuses.get(a.pk)) for a in indexable],
        indexed=connection.vendor == "postgresql",
        cost=filter_index_cost(1_000_000),
    )


class EventIndexView(ProjectViewMixin, View):
    """``POST /projects/<token>/data-manager/event-indexes/``: index an event attribute or not."""

    permission_required = Perm.MANAGE_DATA
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        on, off = request.POST.get("index_on"), request.POST.get("index_off")
        if bool(on) == bool(off):
            raise InvalidInput("Name one event attribute to index or not.")
        raw = str(on or off)
        if not raw.isdigit() or len(raw) > 18:
            raise InvalidInput("Name one event attribute to index or not.")
        attribute = filter_index_set(actor=self.principal, attribute_id=int(raw), indexed=bool(on))
        attribute.refresh_from_db(fields=["filter_index_state"])  # an eager build is done
        label = f"{attribute.event_type.name}.{attribute.name}"
        if on and attribute.filter_index_state == SearchIndexState.READY:
            messages.success(request, f"'{label}' has a filter index: it is built.")
        elif on and connection.vendor == "postgresql":
            messages.success(
                request, f"'{label}' gets a filter index: it is being built in the background."
            )
        elif on:
            messages.success(request, f"'{label}' is marked for a filter index.")
        else:
            messages.success(request, f"'{label}' no longer has a filter index: it is dropped.")
        url = reverse("datamanager:catalog", kwargs={"token": self.project.token})
        return HttpResponseRedirect(f"{url}?tab=events#dm-event-index")
