"""The Data manager's "Search" panel: which text properties are searchable, their index's
state and size, what each choice costs, and the button that changes it.

``POST /projects/<token>/data-manager/searchable/`` (``manage_data``) with
``searchable_on=<name>`` or ``searchable_off=<name>`` calls
:func:`~datamanager.search_indexes.searchable_set` and returns to the Customer attributes
tab; the index is built or dropped in the background (reload to follow its progress). A
refused name is the one error page (400/404), nothing written. The buttons sit in the
catalog form's rows but belong to their own form (``form="dm-search-form"``), so the
staged flag changes are not saved by them; without JavaScript it is a plain form post.
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
from access.principal import Principal
from access.views_base import ProjectViewMixin
from customers.models import Customer
from customers.selectors import estimated_row_count

from .models import CustomerAttribute, SearchIndexState
from .search_indexes import (
    GIN_BYTES_PER_CUSTOMER,
    SEARCHABLE_TYPES,
    SearchIndexStatus,
    search_index_cost,
    search_index_status,
    searchable_set,
)


@dataclass(frozen=True)
class SearchRow:
    attribute: CustomerAttribute
    status: SearchIndexStatus | None

    @property
    def size_mb(self) -> str:
        size = self.status.size_bytes if self.status else None
        if not size:
            return ""
        return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e3:,.0f} kB"


@dataclass
class SearchPanel:
    """What the panel shows: the text properties and the costs, in words."""

    rows: list[SearchRow] = field(default_factory=list)
    indexed: bool = False  # PostgreSQL: indexes exist; SQLite: every search scans
    customers: int = 0
    cost: dict[str, str] = field(default_factory=dict)
    equality_size: str = ""

    @property
    def building(self) -> bool:
        return any(r.status and r.status.state in ("queued", "building") for r in self.rows)


def search_panel(principal: Principal, attributes: list[CustomerAttribute]) -> SearchPanel:
    """The panel for the catalog page: two queries on PostgreSQL (the customers' estimate
    and the index sizes with any running build), none on SQLite."""
    text = [a for a in attributes if not a.is_id and a.type in SEARCHABLE_TYPES]
    panel = SearchPanel(indexed=connection.vendor == "postgresql")
    statuses = search_index_status(text)
    panel.rows = [SearchRow(a, statuses.get(a.pk)) for a in text]
    if panel.indexed:
        customers = Customer.objects.filter(project=principal.project)
        panel.customers = estimated_row_count(customers) or 0
        panel.cost = search_index_cost(panel.customers)
        panel.equality_size = (
            f"about {panel.customers * GIN_BYTES_PER_CUSTOMER / 1e6:,.0f} MB"
            if panel.customers >= 10_000
            else "under 1 MB"
        )
    return panel


class SearchableView(ProjectViewMixin, View):
    """``POST /projects/<token>/data-manager/searchable/``: mark a property searchable or not."""

    permission_required = Perm.MANAGE_DATA
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        on, off = request.POST.get("searchable_on"), request.POST.get("searchable_off")
        if bool(on) == bool(off):
            raise InvalidInput("Name one property to make searchable or not.")
        name = str(on or off)
        attribute = searchable_set(actor=self.principal, name=name, searchable=bool(on))
        attribute.refresh_from_db(fields=["search_index_state"])  # an eager build is done
        if on and attribute.search_index_state == SearchIndexState.READY:
            messages.success(request, f"'{name}' is searchable: its index is built.")
        elif on and connection.vendor == "postgresql":
            messages.success(
                request,
                f"'{name}' is searchable: its index is being built in the background.",
            )
        elif on:
            messages.success(request, f"'{name}' is searchable.")
        else:
            messages.success(request, f"'{name}' is no longer searchable: its index is dropped.")
        url = reverse("datamanager:catalog", kwargs={"token": self.project.token})
        return HttpResponseRedirect(f"{url}?tab=customers#dm-search")
