"""Legal holds, identity suppression and erasure receipts (issue 17), namespace ``customers``.

Thin views: parse, call one service, redirect or render. Pages show internal ids, names,
counts and hold reasons, never a customer value; errors are the project's error page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.views.generic import TemplateView

from access.permissions import Perm
from access.views_base import ProjectViewMixin

from .models import ErasureReceipt
from .selectors import customer_get, id_names
from .services.erasure_receipt import receipt_document
from .services.legal_hold import legal_hold_lift, legal_hold_place, legal_holds_for
from .services.suppression import (
    erasure_settings,
    erasure_settings_update,
    suppression_lift,
    suppression_summary,
)

HOLDS_SHOWN = 500


class ErasureViewMixin(ProjectViewMixin):
    permission_required = Perm.ANONYMIZE_CUSTOMERS
    error_title = "Nothing was changed"
    error_back_url_name = "customers:holds"
    error_back_label = "Back to legal holds"


class LegalHoldPlaceView(ErasureViewMixin):
    """POST from the profile: put the customer on hold with a reason."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        customer = customer_get(self.principal, kwargs["pk"])
        legal_hold_place(
            actor=self.principal, customer_pk=customer.pk, reason=request.POST.get("reason")
        )
        messages.success(request, f"Customer #{customer.pk} is on legal hold.")
        return redirect("customers:detail", token=self.project.token, pk=customer.pk)


class LegalHoldLiftView(ErasureViewMixin):
    """POST from the profile or the holds page: lift the hold."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        customer = customer_get(self.principal, kwargs["pk"])
        legal_hold_lift(actor=self.principal, customer_pk=customer.pk)
        messages.success(request, f"The legal hold on customer #{customer.pk} was lifted.")
        if request.POST.get("next") == "holds":
            return redirect("customers:holds", token=self.project.token)
        return redirect("customers:detail", token=self.project.token, pk=customer.pk)


class LegalHoldListView(ErasureViewMixin, TemplateView):
    """Holds, the suppression counter, the lift-suppression form and the erasure switches."""

    template_name = "customers/holds.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        holds = list(legal_holds_for(self.principal)[:HOLDS_SHOWN])
        hard = sorted(name for name, is_hard in id_names(self.project).items() if is_hard)
        return self.render_to_response(
            self.get_context_data(
                holds=holds,
                summary=suppression_summary(self.principal),
                switches=erasure_settings(self.project),
                hard_id_names=hard,
                can_lift_suppression=self.principal.has(Perm.MANAGE_ACCESS),
                can_change_settings=self.principal.has(Perm.MANAGE_DATA),
            )
        )


class SuppressionLiftView(ErasureViewMixin):
    """POST: lift the suppression of one typed-in hard ID value (admins)."""

    permission_required = Perm.MANAGE_ACCESS

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        id_name = request.POST.get("id_name", "")
        found = suppression_lift(
            actor=self.principal, id_name=id_name, value=request.POST.get("value")
        )
        if found:
            messages.success(request, f"That '{id_name}' value is no longer suppressed.")
        else:
            messages.info(request, f"That '{id_name}' value was not suppressed.")
        return redirect("customers:holds", token=self.project.token)


class ErasureSettingsView(ErasureViewMixin):
    """POST: the project's two erasure switches (Data manager)."""

    permission_required = Perm.MANAGE_DATA

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        erasure_settings_update(
            actor=self.principal,
            remove_leftovers=request.POST.get("remove_leftovers") == "1",
            suppress_erased_ids=request.POST.get("suppress_erased_ids") == "1",
        )
        messages.success(request, "Erasure settings saved.")
        return redirect("customers:holds", token=self.project.token)


class ReceiptJsonView(ProjectViewMixin):
    """The receipt as a JSON download: names and counts only, so anyone who sees the
    customer list may have it (``view_customers``)."""

    permission_required = Perm.VIEW_CUSTOMERS

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        receipt = (
            ErasureReceipt.objects.filter(project=self.project, public_id=kwargs["receipt_id"])
            .select_related("job")
            .first()
        )
        if receipt is None:
            raise Http404("Receipt not found.")
        response = JsonResponse(receipt_document(receipt), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = (
            f'attachment; filename="erasure-receipt-{receipt.public_id}.json"'
        )
        return response
