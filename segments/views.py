"""Saved segments pages: the list (apply, delete) and the "save as segment" action.

Thin views: parse, call one service, redirect. A segment is applied by opening the customer
list with its filter in the URL (bookmarkable), where the filter is checked as any other.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import TemplateView

from access.errors import InvalidInput
from access.permissions import Perm
from access.views_base import ProjectViewMixin
from customers.filters import CustomerFilter

from .services import segment_delete, segment_save, segments_for


class SegmentMixin(ProjectViewMixin):
    permission_required = Perm.VIEW_CUSTOMERS
    error_title = "The segment was not saved"
    error_back_url_name = "segments:list"
    error_back_label = "Back to segments"


class SegmentListView(SegmentMixin, TemplateView):
    template_name = "segments/list.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        list_url = reverse("customers:list", kwargs={"token": self.project.token})
        rows = [
            {
                "row": row,
                "labels": row.customer_filter.describe(with_values=row.usable),
                "url": f"{list_url}?{row.customer_filter.to_querystring()}",
                "can_delete": row.segment.created_by_label == self.principal.label
                or self.principal.has(Perm.MANAGE_DATA),
            }
            for row in segments_for(self.principal)
        ]
        return self.render_to_response(self.get_context_data(rows=rows, list_url=list_url))


class SegmentSaveView(SegmentMixin):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        raw = request.POST.get("filter", "")
        if len(raw) > 50_000:
            raise InvalidInput("The filter is too long to save.")
        customer_filter = CustomerFilter.from_string(raw)
        segment = segment_save(
            actor=self.principal, name=request.POST.get("name"), customer_filter=customer_filter
        )
        messages.success(request, f"Saved the segment “{segment.name}”.")
        list_url = reverse("customers:list", kwargs={"token": self.project.token})
        return HttpResponseRedirect(f"{list_url}?{customer_filter.to_querystring()}")


class SegmentDeleteView(SegmentMixin):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        segment_delete(actor=self.principal, public_id=kwargs["segment_id"])
        messages.success(request, "Segment deleted.")
        return HttpResponseRedirect(reverse("segments:list", kwargs={"token": self.project.token}))
