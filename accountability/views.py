"""Pages of the access log: a customer's access history and the project's access log.

Both need ``view_access_log``. Entries hold names and internal ids only, so these pages
show nothing masked and are not themselves accesses to personal data.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from access.errors import InvalidInput
from access.permissions import Perm
from access.views_base import ProjectViewMixin
from customers.models import Customer
from customers.presenters import csv_safe
from customers.selectors import customer_get

from .models import AccessReview, RevealStatus
from .reveals import (
    reveal_decide,
    reveal_end,
    reveal_policy,
    reveal_policy_set,
    reveal_request,
    reveals_for_project,
)
from .review import (
    access_holders,
    access_remove,
    access_review_last,
    access_review_record,
    privacy_overview,
    trail_verification_last,
)
from .selectors import access_history, access_log_for_project

PAGE_SIZE = 50


class CustomerAccessHistoryView(ProjectViewMixin, View):
    """Who saw this customer's personal data, when, through which channel and why."""

    permission_required = Perm.VIEW_ACCESS_LOG

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Same 404 for another project's customer as for a missing one.
        if not Customer.objects.filter(project=self.project, pk=kwargs["pk"]).exists():
            raise Http404("Customer not found.")
        entries = access_history(self.principal, [kwargs["pk"]])
        context = {
            "project": self.project,
            "principal": self.principal,
            "customer_pk": kwargs["pk"],
            "entries": entries,
            "profile_url": reverse(
                "customers:detail", kwargs={"token": self.project.token, "pk": kwargs["pk"]}
            ),
        }
        return render(request, "accountability/customer_history.html", context)


class AccessLogView(ProjectViewMixin, View):
    """Every access entry of the project, newest first, paginated."""

    permission_required = Perm.VIEW_ACCESS_LOG

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        page_obj = Paginator(access_log_for_project(self.principal), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context = {"project": self.project, "principal": self.principal, "page_obj": page_obj}
        return render(request, "accountability/access_log.html", context)


# Temporary reveals ---------------------------------------------------------------------------


class RevealRequestView(ProjectViewMixin, View):
    """POST: ask to see one customer's personal data for a few minutes, with a reason."""

    permission_required = Perm.REQUEST_PERSONAL_DATA
    error_title = "The reveal was not requested"
    error_outcome = "Nothing was revealed."
    error_back_url_name = "customers:list"
    error_back_label = "Back to the customers"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        customer = customer_get(self.principal, kwargs["pk"])  # 404 for another project's
        reveal = reveal_request(
            actor=self.principal,
            customer_pk=customer.pk,
            reason=request.POST.get("reason"),
            minutes=request.POST.get("minutes"),
        )
        if reveal.status == RevealStatus.PENDING:
            messages.info(request, "Your request waits for an administrator's approval.")
        else:
            messages.success(
                request,
                f"Personal data of customer #{customer.pk} is shown to you until "
                f"{timezone.localtime(reveal.expires_at):%H:%M}.",
            )
        return redirect("customers:detail", token=self.project.token, pk=customer.pk)


class RevealListView(ProjectViewMixin, View):
    """Requests waiting for approval, recent reveals with their reasons, and the policy."""

    permission_required = Perm.VIEW_ACCESS_LOG

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        reveals = reveals_for_project(self.principal)
        page_obj = Paginator(reveals.exclude(status=RevealStatus.PENDING), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context = {
            "project": self.project,
            "principal": self.principal,
            "pending": list(reveals.filter(status=RevealStatus.PENDING)[:PAGE_SIZE]),
            "page_obj": page_obj,
            "now": timezone.now(),
            "policy": reveal_policy(self.project),
            "can_manage": self.principal.has(Perm.MANAGE_ACCESS),
        }
        return render(request, "accountability/reveals.html", context)


class RevealPolicyView(ProjectViewMixin, View):
    """POST: reveals granted at once, or after approval (``manage_access``)."""

    permission_required = Perm.MANAGE_ACCESS
    error_back_url_name = "accountability:reveals"
    error_back_label = "Back to the reveals"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        mode = request.POST.get("mode")
        if mode not in {"immediate", "approval"}:
            raise InvalidInput("Choose 'immediate' or 'approval'.")
        reveal_policy_set(actor=self.principal, requires_approval=mode == "approval")
        messages.success(
            request,
            "Reveals now need approval." if mode == "approval" else "Reveals are granted at once.",
        )
        return redirect("accountability:reveals", token=self.project.token)


class RevealDecideView(ProjectViewMixin, View):
    """POST: approve or deny a pending request (``manage_access``)."""

    permission_required = Perm.MANAGE_ACCESS
    approve = True
    error_back_url_name = "accountability:reveals"
    error_back_label = "Back to the reveals"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        reveal = reveal_decide(
            actor=self.principal, reveal_id=kwargs["reveal_id"], approve=self.approve
        )
        verb = "approved" if self.approve else "denied"
        messages.success(request, f"The request of {reveal.user_label} was {verb}.")
        return redirect("accountability:reveals", token=self.project.token)


class RevealEndView(ProjectViewMixin, View):
    """POST: end a reveal early (its member or ``manage_access``)."""

    permission_required = Perm.VIEW_CUSTOMERS
    error_back_url_name = "customers:list"
    error_back_label = "Back to the customers"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        reveal = reveal_end(actor=self.principal, reveal_id=kwargs["reveal_id"])
        messages.success(request, "The reveal was ended.")
        if request.POST.get("next") == "reveals":
            return redirect("accountability:reveals", token=self.project.token)
        return redirect("customers:detail", token=self.project.token, pk=reveal.customer_id)


# Access review and privacy overview ----------------------------------------------------------


class AccessReviewView(ProjectViewMixin, View):
    """Who can see personal data or the access log, how, and when they last did."""

    permission_required = Perm.MANAGE_ACCESS

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        holders = access_holders(self.principal)
        context = {
            "project": self.project,
            "principal": self.principal,
            "holders": holders,
            "last_review": access_review_last(self.project),
            "reviews": AccessReview.objects.filter(project=self.project)[:10],
            "last_verification": trail_verification_last(),
            "now": timezone.now(),
        }
        return render(request, "accountability/review.html", context)


class AccessReviewCsvView(ProjectViewMixin, View):
    """The access review's holders as CSV (names, grants and times; no customer data)."""

    permission_required = Perm.MANAGE_ACCESS

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="access-review.csv"'
        writer = csv.writer(response)
        writer.writerow(
            ["kind", "name", "personal data via", "access log via", "last saw personal data"]
        )
        for h in access_holders(self.principal):
            writer.writerow(
                [
                    h.kind,
                    csv_safe(h.label),
                    csv_safe("; ".join(h.personal_data_via)),
                    csv_safe("; ".join(h.access_log_via)),
                    h.last_seen.isoformat() if h.last_seen else "",
                ]
            )
        return response


class AccessRemoveView(ProjectViewMixin, View):
    """POST: take Personal data away from a member (grant and roles) or revoke a key."""

    permission_required = Perm.MANAGE_ACCESS
    error_back_url_name = "accountability:review"
    error_back_label = "Back to the access review"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        done = access_remove(
            actor=self.principal, kind=request.POST.get("kind", ""), pk=request.POST.get("pk")
        )
        messages.success(request, done)
        return redirect("accountability:review", token=self.project.token)


class AccessReviewRecordView(ProjectViewMixin, View):
    """POST: record that the review was completed, with a note."""

    permission_required = Perm.MANAGE_ACCESS
    error_back_url_name = "accountability:review"
    error_back_label = "Back to the access review"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        access_review_record(actor=self.principal, note=request.POST.get("note"))
        messages.success(request, "The access review was recorded.")
        return redirect("accountability:review", token=self.project.token)


class PrivacyOverviewView(ProjectViewMixin, View):
    """Flagged attributes, waiting suggestions, reveals and anonymizations per day."""

    permission_required = Perm.VIEW_ACCESS_LOG

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        context = {
            "project": self.project,
            "principal": self.principal,
            "now": timezone.now(),
            **privacy_overview(self.principal),
        }
        return render(request, "accountability/overview.html", context)
