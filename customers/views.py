"""The customer filter (list), the CSV export of it, and the customer profile.

Views stay thin: parse the request, call the filter / selectors / export service, and
hand templates masked structures built by :mod:`customers.presenters`. A filter or sort
on a PII attribute by a principal without Personal data is refused (403, the error page
of :class:`access.views_base.ProjectViewMixin`) naming the attribute, before anything is
evaluated.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import NoReverseMatch, reverse
from django.utils.decorators import method_decorator
from django.views.generic import TemplateView

from access.errors import InvalidInput
from access.permissions import Perm
from access.views_base import ProjectViewMixin
from accountability.models import Channel
from accountability.reveals import reveal_masker
from accountability.services import access_record_shown
from datamanager.masking import Masker
from exponea_pii.db_router import replica_reads

from .cursors import decode_cursor, encode_cursor
from .filters import CustomerFilter, customers_matching, estimate_is_reliable
from .forms import COUNT_CHOICES, OPERATOR_CHOICES, TYPE_CHOICES, ColumnsForm, builder_rows
from .listing import ID_SORT, PAGE_SIZES, Sort, customer_page, list_total, resolve_sort
from .presenters import (
    columns_for,
    customer_cell,
    customer_rows,
    event_items,
    profile_attributes,
    profile_ids,
)
from .selectors import (
    AttributeInfo,
    customer_attributes,
    customer_event_type_counts,
    customer_events_page,
    customer_get,
    customer_list_columns,
    event_types_with_attributes,
    ids_of_customers,
)
from .services import customer_list_columns_set, customers_export_csv
from .validation import storable_text

# Shown when the user never chose columns (those the project has, in this order).
DEFAULT_COLUMNS = ["email", "first_name", "last_name", "city", "plan", "lifetime_value"]
DEFAULT_COLUMN_COUNT = 6
EVENTS_PER_PAGE = 20


class CustomerPageMixin(ProjectViewMixin):
    """A customer page: a refused filter, sort or page link leads back to the list."""

    error_title = "This filter cannot be used"
    error_outcome = "Nothing was searched."
    error_back_url_name = "customers:list"
    error_back_label = "Back to all customers"


def chosen_columns(
    principal: Any, attributes: list[AttributeInfo], saved: list[str] | None
) -> list[str]:
    properties = [a.name for a in attributes if not a.is_id]
    if saved is not None:
        return [c for c in saved if c in properties]
    preferred = [c for c in DEFAULT_COLUMNS if c in properties]
    return preferred or properties[:DEFAULT_COLUMN_COUNT]


def _bulk_url(view: ProjectViewMixin) -> str | None:
    """Where "anonymize selected" posts, if the principal may and the page is installed."""
    if not view.principal.has(Perm.ANONYMIZE_CUSTOMERS):
        return None
    try:
        return reverse("customers:anonymize_bulk", kwargs={"token": view.project.token})
    except NoReverseMatch:
        return None


def _page_size(raw: str | None) -> int:
    try:
        size = int(raw or PAGE_SIZES[0])
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


# The list's customer reads (page, IDs, count) may go to a read replica when one is set
# (docs/scaling.md); catalog, permissions and sessions stay on the primary (the router).
@method_decorator(replica_reads(), name="get")
class CustomerListView(CustomerPageMixin, TemplateView):
    """The customer filter: filter builder, chosen columns, sort, cursor pages, export."""

    template_name = "customers/list.html"
    masker: Masker  # set by build(); what it let through goes to the access log

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        context = self.build(request)
        access_record_shown(
            actor=self.principal,
            masker=self.masker,
            channel=Channel.PAGE,
            view="customers.list",
            customer_ids=[row.pk for row in context["rows"]],
        )
        return self.render_to_response(self.get_context_data(**context))

    def build(self, request: HttpRequest) -> dict[str, Any]:
        principal = self.principal
        masker = self.masker = Masker.for_principal(principal)
        customer_filter = CustomerFilter.from_querydict(request.GET)
        sort = Sort.parse(request.GET.get("sort"))
        size = _page_size(request.GET.get("size"))
        attributes = customer_attributes(self.project)
        by_name = {a.name: a for a in attributes}
        # Refusals first: nothing about customers is read before both checks pass.
        value_type = resolve_sort(sort, masker, by_name)
        matching = customers_matching(principal, customer_filter, masker=masker)
        page = customer_page(
            matching,
            sort=sort,
            value_type=value_type,
            after=request.GET.get("after"),
            before=request.GET.get("before"),
            limit=size,
        )
        total = list_total(
            matching,
            page,
            first_page=not (request.GET.get("after") or request.GET.get("before")),
            estimate_reliable=estimate_is_reliable(customer_filter),
            count=request.GET.get("count") == "exact",
        )
        columns = columns_for(masker, attributes)
        id_columns = [c for c in columns if c.is_id]
        picked = chosen_columns(principal, attributes, customer_list_columns(principal))
        column_by_name = {c.name: c for c in columns}
        property_columns = [column_by_name[n] for n in picked]
        ids = ids_of_customers(c.pk for c in page.customers)
        rows = customer_rows(
            masker,
            page.customers,
            id_columns=[c.name for c in id_columns],
            property_columns=picked,
            ids=ids,
        )
        filter_pairs = customer_filter.to_pairs()
        base = [*filter_pairs, *([("sort", sort.param)] if sort != Sort() else [])]
        if size != PAGE_SIZES[0]:
            base.append(("size", str(size)))
        builder = builder_rows(customer_filter)
        event_types = event_types_with_attributes(self.project)
        list_url = reverse("customers:list", kwargs={"token": self.project.token})
        bulk_url = _bulk_url(self)

        def url(pairs: list[tuple[str, str]]) -> str:
            return list_url + ("?" + urlencode(pairs) if pairs else "")

        # Only attributes the principal may sort by get a link (never PII without permission).
        property_headers = [
            {
                "col": c,
                "link": url([*filter_pairs, ("sort", sort.toggled(c.name).param)])
                if c.usable
                else None,
            }
            for c in property_columns
        ]
        return {
            "customer_filter": customer_filter,
            "filter_querystring": customer_filter.to_querystring(),
            "rows": rows,
            "id_columns": id_columns,
            "property_columns": property_columns,
            "all_property_columns": [c for c in columns if not c.is_id],
            "picked": picked,
            "filter_fields": [c for c in columns if c.usable],
            "hidden_fields": [c.name for c in columns if not c.usable],
            "event_types": [name for name, _ in event_types],
            "operators": OPERATOR_CHOICES,
            "value_types": TYPE_CHOICES,
            "condition_rows": builder.conditions,
            "event_rows": builder.events,
            "group_rows": builder.groups,
            "kept_parts": builder.kept,
            "count_choices": COUNT_CHOICES,
            # The builder offers no PII event attribute to a principal who may not see it.
            "event_attribute_options": [
                (name, [a for a in attrs if not masker.hides_event_attribute(name, a)])
                for name, attrs in event_types
                if attrs
            ],
            "segments_url": reverse("segments:list", kwargs={"token": self.project.token}),
            "sort": sort,
            "property_headers": property_headers,
            "id_sort_link": url([*filter_pairs, ("sort", sort.toggled(ID_SORT).param)]),
            "total": total,
            # "Count them": the same page with an exact count (a total the page cannot show).
            "count_url": url([*base, ("count", "exact")]) if total.countable else None,
            "page_size": size,
            "page_sizes": PAGE_SIZES,
            "next_url": url([*base, ("after", page.next_cursor)]) if page.next_cursor else None,
            "prev_url": url([*base, ("before", page.prev_cursor)]) if page.prev_cursor else None,
            "first_url": url(base) if page.prev_cursor else None,
            "current_querystring": urlencode(base),
            "can_export": principal.has(Perm.EXPORT_CUSTOMERS),
            "export_url": reverse("customers:export_csv", kwargs={"token": self.project.token})
            + ("?" + urlencode(filter_pairs) if filter_pairs else ""),
            "bulk_url": bulk_url,
            "colspan": 1 + len(id_columns) + len(property_columns) + (1 if bulk_url else 0),
            "can_see_personal_data": masker.can_see_personal_data,
            "size_param_pairs": [p for p in base if p[0] != "size"],
        }


class CustomerColumnsView(CustomerPageMixin):
    """Save the column picker's choice (POST), then go back to the same filtered list."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        attributes = customer_attributes(self.project)
        form = ColumnsForm(request.POST, names=[a.name for a in attributes])
        list_url = reverse("customers:list", kwargs={"token": self.project.token})
        if not form.is_valid():
            raise InvalidInput("Choose columns from the list.")
        customer_list_columns_set(actor=self.principal, columns=form.cleaned_data["column"])
        # Only a query string is carried over, so this cannot redirect anywhere else.
        back = form.cleaned_data["next"].replace("\r", "").replace("\n", "").lstrip("?")
        return HttpResponseRedirect(list_url + ("?" + back if back else ""))


class CustomerExportCsvView(CustomerPageMixin):
    """The current filter and columns as CSV, streamed, masked like the page, audited."""

    permission_required = Perm.EXPORT_CUSTOMERS

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        customer_filter = CustomerFilter.from_querydict(request.GET)
        attributes = customer_attributes(self.project)
        columns = chosen_columns(self.principal, attributes, customer_list_columns(self.principal))
        export = customers_export_csv(
            actor=self.principal, customer_filter=customer_filter, columns=columns
        )
        # The rows are read while streaming, after this view returned, by the export engine
        # (from a read replica if one is set; the count, audit and masking decision were
        # made on the primary, in the service's transaction).
        response = StreamingHttpResponse(export.blocks, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["X-Row-Count"] = str(export.row_count)
        return response


def _decode_event_cursor(raw: str) -> tuple[dt.datetime, int]:
    invalid = "The page link is not valid; start again from the newest."
    iso, pk = decode_cursor(raw, invalid=invalid)
    try:
        timestamp = dt.datetime.fromisoformat(iso)
    except (ValueError, TypeError):
        raise InvalidInput(invalid) from None
    if timestamp.tzinfo is None:
        raise InvalidInput(invalid)
    return timestamp, pk


class CustomerDetailView(CustomerPageMixin, TemplateView):
    """The customer profile: IDs, attributes, dates, state, and the event timeline."""

    template_name = "customers/detail.html"
    masker: Masker  # set by build(); what it let through goes to the access log

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = customer_get(self.principal, kwargs["pk"])
        context = self.build(request, customer)
        access_record_shown(
            actor=self.principal,
            masker=self.masker,
            channel=Channel.PAGE,
            view="customers.profile",
            customer_ids=[customer.pk],
        )
        return self.render_to_response(self.get_context_data(**context))

    def build(self, request: HttpRequest, customer: Any) -> dict[str, Any]:
        # With a temporary reveal of this customer in force (issue 16), its values pass.
        masker = self.masker = reveal_masker(self.principal, customer.pk)
        catalog = {a.name: a for a in customer_attributes(self.project)}
        event_type = (request.GET.get("type") or "").strip()[:128] or None
        if event_type is not None and not storable_text(event_type):
            # PostgreSQL cannot compare a NUL or a lone surrogate (a DataError, a 500).
            raise InvalidInput("The event type contains a NUL character or invalid Unicode.")
        raw_before = request.GET.get("before")
        before = _decode_event_cursor(raw_before) if raw_before else None
        events, more = customer_events_page(
            customer, event_type=event_type, before=before, limit=EVENTS_PER_PAGE
        )
        type_counts = customer_event_type_counts(customer)
        detail_url = reverse(
            "customers:detail", kwargs={"token": self.project.token, "pk": customer.pk}
        )
        type_pairs = [("type", event_type)] if event_type else []
        first_name = customer_cell(masker, "first_name", customer.properties.get("first_name"))
        last_name = customer_cell(masker, "last_name", customer.properties.get("last_name"))
        name_parts = [c.text for c in (first_name, last_name) if not c.missing and not c.masked]
        return {
            "customer": customer,
            "display_name": " ".join(name_parts),
            "ids": profile_ids(
                masker, ids_of_customers([customer.pk]).get(customer.pk, {}), catalog
            ),
            "attributes": profile_attributes(masker, customer, catalog),
            "events": event_items(masker, events),
            "event_type": event_type,
            "type_counts": type_counts,
            "event_total": sum(n for _, n in type_counts),
            "detail_url": detail_url,
            "older_url": (
                detail_url
                + "?"
                + urlencode(
                    [
                        *type_pairs,
                        ("before", encode_cursor(events[-1].timestamp.isoformat(), events[-1].pk)),
                    ]
                )
                + "#timeline"
                if more and events
                else None
            ),
            "newest_url": (
                detail_url + ("?" + urlencode(type_pairs) if type_pairs else "") + "#timeline"
                if before
                else None
            ),
            # The standing permission: a temporary reveal shows values, never exports them.
            "can_see_personal_data": masker.standing_personal_data,
            "reveal": masker.reveal,
            "list_url": reverse("customers:list", kwargs={"token": self.project.token}),
        }
