"""The Data manager page: the catalog with lock icons, staged changes and "Save changes".

Thin: the selectors read, :func:`~datamanager.forms.staged_form_parse` reads the post, and
:func:`~datamanager.services.catalog_changes_apply` writes. Without JavaScript the page is
one plain form (a lock is a label for a checkbox); ``static/js/datamanager.js`` adds the
staging bar, client-side tabs and filtering, and the unflag confirmation dialog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.generic import View

from access.errors import InvalidInput
from access.permissions import Perm
from access.views_base import ProjectViewMixin

from .event_index_views import event_index_panel
from .forms import RowState, StagedForm, staged_form_parse
from .ids import CustomerIdInvalid, customer_id_create
from .models import AttributeKind, AttributeType, CustomerAttribute, EventAttribute, EventType
from .search_views import search_panel
from .selectors import (
    AttributeSample,
    TrackedValues,
    customer_attributes_for,
    event_types_for,
    suggestions_for,
    tracked_values,
)
from .services import UnflagForbidden, UnflagNotConfirmed, catalog_changes_apply

TABS = ("customers", "events")
PII_FILTERS = {"": "All attributes", "only": "PII only", "not": "Not PII"}


@dataclass
class AttributeRow:
    """One attribute as the page shows it."""

    prefix: str  # "ca" (customer attribute) or "ea" (event attribute)
    obj: CustomerAttribute | EventAttribute
    state: RowState
    sample: AttributeSample | None
    suggestion: str | None
    visible: bool = True

    @property
    def field(self) -> str:
        return f"{self.prefix}-{self.obj.pk}"

    @property
    def is_id(self) -> bool:
        return isinstance(self.obj, CustomerAttribute) and self.obj.kind == AttributeKind.ID

    @property
    def changed(self) -> bool:
        return bool(self.state.changed_fields)


@dataclass
class EventGroup:
    """One event type and its attribute rows."""

    obj: EventType
    rows: list[AttributeRow]
    description: str
    orig_description: str
    visible: bool = True
    open: bool = False

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.rows if r.state.pii)

    @property
    def changed(self) -> bool:
        return self.description != self.orig_description or any(r.changed for r in self.rows)


@dataclass
class PageFilter:
    q: str = ""
    pii: str = ""

    def keeps(self, name: str, pii: bool, *, also: str = "") -> bool:
        q = self.q.lower()
        if q and q not in name.lower() and q not in also.lower():
            return False
        if self.pii == "only":
            return pii
        if self.pii == "not":
            return not pii
        return True


@dataclass
class PageState:
    """Everything the template needs, from the database or from a post being re-shown."""

    customer_rows: list[AttributeRow] = field(default_factory=list)
    event_groups: list[EventGroup] = field(default_factory=list)
    change_count: int = 0


@dataclass
class AddIdForm:
    """The "Add ID" panel of the Customer attributes tab: what was typed, and why it failed."""

    name: str = ""
    hard: bool = True
    pii: bool = True  # an ID names a person: personal data unless the admin says otherwise
    description: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_post(cls, data: Any) -> AddIdForm:
        return cls(
            name=data.get("id-name", "").strip(),
            hard=data.get("id-kind", "hard") != "soft",
            pii=data.get("id-pii") == "1",
            description=" ".join(data.get("id-desc", "").split()),
        )


class CatalogView(ProjectViewMixin, View):
    """``/projects/<token>/data-manager/``: anyone who views customers reads, managers change."""

    permission_required = Perm.VIEW_CUSTOMERS
    template_name = "datamanager/catalog.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._render(request, staged=None)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.principal.has(Perm.MANAGE_DATA):
            raise PermissionDenied("Changing the catalog needs the 'manage_data' permission.")
        action = request.POST.get("action", "save")
        if action == "discard":
            return self._redirect(request)
        attributes, types = self._catalog()
        by_pk_ca = {a.pk: a for a in attributes}
        by_pk_ea = {a.pk: a for t in types for a in t.attributes.all()}
        by_pk_et = {t.pk: t for t in types}
        staged = staged_form_parse(
            request.POST,
            customer_attributes=by_pk_ca,
            event_attributes=by_pk_ea,
            event_types=by_pk_et,
        )
        if action == "flag_suggested":
            return self._render(request, staged=staged, flag_suggested=True)
        if action not in ("save", "save_confirmed"):
            return self._render(request, staged=staged, errors=["Unknown action."], status=400)
        ca, ea, et = staged.changes(by_pk_ca, by_pk_ea, by_pk_et)
        try:
            result = catalog_changes_apply(
                actor=self.principal,
                customer_attributes=ca,
                event_attributes=ea,
                event_types=et,
                confirm_unflag=action == "save_confirmed",
            )
        except UnflagForbidden as exc:
            return self._render(request, staged=staged, errors=exc.errors, status=403)
        except UnflagNotConfirmed as exc:
            return self._render(request, staged=staged, confirm_unflag=exc.names)
        except InvalidInput as exc:
            return self._render(request, staged=staged, errors=exc.errors, status=400)
        count = len(result.changes)
        if count:
            messages.success(request, f"Saved {count} change{'s' if count != 1 else ''}.")
        else:
            messages.info(request, "Nothing to save.")
        return self._redirect(request)

    # ------------------------------------------------------------------------------------

    def _catalog(self) -> tuple[list[CustomerAttribute], list[EventType]]:
        return list(customer_attributes_for(self.principal)), event_types_for(self.principal)

    def _redirect(self, request: HttpRequest) -> HttpResponseRedirect:
        query = {k: request.POST.get(k, "") for k in ("tab", "q", "pii")}
        query = {k: v for k, v in query.items() if v}
        url = reverse("datamanager:catalog", kwargs={"token": self.project.token})
        return HttpResponseRedirect(f"{url}?{urlencode(query)}" if query else url)

    def _render(
        self,
        request: HttpRequest,
        *,
        staged: StagedForm | None,
        flag_suggested: bool = False,
        confirm_unflag: list[str] | None = None,
        errors: list[str] | None = None,
        add_id: AddIdForm | None = None,
        status: int = 200,
    ) -> HttpResponse:
        source = request.POST if request.method == "POST" else request.GET
        tab = source.get("tab", "customers")
        tab = tab if tab in TABS else "customers"
        pii_filter = source.get("pii", "")
        page_filter = PageFilter(
            q=source.get("q", "").strip()[:100],
            pii=pii_filter if pii_filter in PII_FILTERS else "",
        )
        attributes, types = self._catalog()
        samples = tracked_values(self.principal, attributes=attributes, event_types=types)
        ca_reasons, ea_reasons = suggestions_for(attributes, types, samples)
        state = self._page_state(attributes, types, samples, ca_reasons, ea_reasons, staged)
        can_manage = self.principal.has(Perm.MANAGE_DATA)
        staged_suggested = 0
        if flag_suggested and can_manage:
            for row in self._all_rows(state):
                if row.suggestion and not row.state.pii:
                    row.state.pii = True
                    staged_suggested += 1
            messages.info(
                request,
                f"Staged {staged_suggested} suggested attribute"
                f"{'s' if staged_suggested != 1 else ''}: nothing changes until you save.",
            )
        self._apply_filter(state, page_filter)
        state.change_count = sum(len(r.state.changed_fields) for r in self._all_rows(state)) + sum(
            1 for g in state.event_groups if g.description != g.orig_description
        )
        all_rows = self._all_rows(state)
        context = {
            "project": self.project,
            "principal": self.principal,
            "can_manage": can_manage,
            "can_see_personal_data": self.principal.can_see_personal_data,
            "tab": tab,
            "filter": page_filter,
            "pii_filters": PII_FILTERS,
            "types": AttributeType.choices,
            "customer_rows": state.customer_rows,
            "customer_visible": any(r.visible for r in state.customer_rows),
            "event_groups": state.event_groups,
            "change_count": state.change_count,
            "suggested_count": sum(1 for r in all_rows if r.suggestion and not r.state.pii),
            "customer_flagged": sum(1 for r in state.customer_rows if r.state.pii),
            "event_flagged": sum(g.flagged for g in state.event_groups),
            "confirm_unflag": confirm_unflag or [],
            "errors": errors or [],
            "add_id": add_id or AddIdForm(),
            "search": search_panel(self.principal, attributes),
            "event_index": event_index_panel(
                [a for t in types if not t.system for a in t.attributes.all()]
            ),
        }
        return render(request, self.template_name, context, status=status)

    @staticmethod
    def _all_rows(state: PageState) -> list[AttributeRow]:
        return [*state.customer_rows, *(r for g in state.event_groups for r in g.rows)]

    @staticmethod
    def _page_state(
        attributes: list[CustomerAttribute],
        types: list[EventType],
        samples: TrackedValues,
        ca_reasons: dict[str, str],
        ea_reasons: dict[tuple[str, str], str],
        staged: StagedForm | None,
    ) -> PageState:
        def state_of(
            obj: CustomerAttribute | EventAttribute, posted: dict[int, RowState]
        ) -> RowState:
            return posted.get(obj.pk) or RowState.saved(obj)

        state = PageState()
        for attr in attributes:
            state.customer_rows.append(
                AttributeRow(
                    "ca",
                    attr,
                    state_of(attr, staged.customer if staged else {}),
                    samples.customer.get(attr.name),
                    ca_reasons.get(attr.name),
                )
            )
        for event_type in types:
            rows = [
                AttributeRow(
                    "ea",
                    event_attr,
                    state_of(event_attr, staged.event_attributes if staged else {}),
                    samples.events.get((event_type.name, event_attr.name)),
                    ea_reasons.get((event_type.name, event_attr.name)),
                )
                for event_attr in event_type.attributes.all()
            ]
            desc, orig = (
                staged.event_types[event_type.pk]
                if staged and event_type.pk in staged.event_types
                else (event_type.description, event_type.description)
            )
            state.event_groups.append(EventGroup(event_type, rows, desc, orig))
        return state

    @staticmethod
    def _apply_filter(state: PageState, page_filter: PageFilter) -> None:
        for row in state.customer_rows:
            row.visible = page_filter.keeps(row.obj.name, row.state.pii)
        for group in state.event_groups:
            for row in group.rows:
                row.visible = page_filter.keeps(row.obj.name, row.state.pii, also=group.obj.name)
            group.visible = any(r.visible for r in group.rows) or (
                not group.rows and page_filter.keeps(group.obj.name, False)
            )
            # A search or a filter opens what it found; staged work stays in view.
            filtering = bool(page_filter.q or page_filter.pii)
            group.open = group.changed or (filtering and group.visible)


class CustomerIdAddView(CatalogView):
    """``POST /projects/<token>/data-manager/ids/``: the tab's "Add ID" form (``manage_data``).

    A plain form post (no JavaScript needed) to the one service the API and the command
    line call. Success goes back to the Customer attributes tab; a refused name shows the
    page again with the panel open, the typed values and the reason (400), nothing written.
    """

    permission_required = Perm.MANAGE_DATA
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = AddIdForm.from_post(request.POST)
        try:
            attr = customer_id_create(
                actor=self.principal,
                name=form.name,
                hard=form.hard,
                pii=form.pii,
                description=form.description,
            )
        except CustomerIdInvalid as exc:
            form.errors = exc.errors
            return self._render(request, staged=None, add_id=form, status=400)
        kind = "hard" if attr.hard else "soft"
        messages.success(
            request,
            f"Added the {kind} ID '{attr.name}'"
            f"{', flagged as personal data' if attr.pii else ''}. "
            "Tracking and the API accept it in customer_ids now.",
        )
        return self._redirect(request)
