"""Anonymization pages: the profile's confirmation, bulk from the filter, the jobs pages.

Thin views: parse, call one service or selector, render. Every page needs the
``anonymize_customers`` permission (403 otherwise, 404 for a project the user is not in).
What the confirmations show are attribute names, ID names and counts: never a value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.views.generic import TemplateView

from access.permissions import Perm
from access.views_base import ProjectViewMixin

from .filters import CustomerFilter
from .models import AnonymizationJob
from .selectors import customer_get
from .services.anonymization import anonymization_preview, customer_anonymize_one
from .services.anonymization_bulk import (
    bulk_anonymization_start,
    bulk_selection_matching,
    bulk_selection_of_rows,
)
from .services.job_lease import job_is_stalled

JOBS_PER_PAGE = 50
# Above this many customers, the bulk confirmation asks to type the count (checked here).
TYPED_COUNT_ABOVE = 100
MAX_SELECTED = 10_000
JOB_TIME_FORMAT = "j M Y, H:i:s"


class AnonymizationViewMixin(ProjectViewMixin):
    """A refused anonymization is the project's error page (ProjectViewMixin), 4xx."""

    permission_required = Perm.ANONYMIZE_CUSTOMERS
    error_title = "Nothing was anonymized"
    error_outcome = "Nothing was anonymized."
    error_back_url_name = "customers:list"
    error_back_label = "Back to customers"

    def list_url(self, querystring: str = "") -> str:
        url = reverse("customers:list", kwargs={"token": self.project.token})
        return f"{url}?{querystring}" if querystring else url


class CustomerAnonymizeView(AnonymizationViewMixin, TemplateView):
    """GET: what will be removed (a page, or the dialog's body for the script); POST: do it."""

    template_name = "customers/anonymize_confirm.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = customer_get(self.principal, kwargs["pk"])
        preview = anonymization_preview(actor=self.principal, customer=customer)
        context = self.get_context_data(
            customer=customer,
            preview=preview,
            profile_url=reverse(
                "customers:detail", kwargs={"token": self.project.token, "pk": customer.pk}
            ),
        )
        if request.GET.get("partial") == "1":
            return render(request, "customers/anonymize_confirm_body.html", context)
        return self.render_to_response(context)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        customer = customer_get(self.principal, kwargs["pk"])
        outcome = customer_anonymize_one(
            actor=self.principal, customer_pk=customer.pk, source="app"
        )
        if outcome.merged_from is not None:
            messages.success(
                request,
                f"Customer #{outcome.merged_from} had just been merged into "
                f"#{outcome.customer_pk}; #{outcome.customer_pk} was anonymized.",
            )
        elif outcome.anonymized_now:
            messages.success(request, f"Customer #{outcome.customer_pk} was anonymized.")
        else:
            messages.info(request, f"Customer #{outcome.customer_pk} was already anonymized.")
        return redirect("customers:detail", token=self.project.token, pk=outcome.customer_pk)


def _selected_ids(values: list[str]) -> list[int]:
    ids: list[int] = []
    for value in values:
        if value.isdigit() and len(value) < 19:
            ids.append(int(value))
    return list(dict.fromkeys(ids))[:MAX_SELECTED]


class BulkAnonymizeView(AnonymizationViewMixin, TemplateView):
    """The list page's form posts here: first a confirmation stating the count, then a job."""

    template_name = "customers/anonymize_bulk_confirm.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return redirect(self.list_url())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        querystring = request.POST.get("filter", "").lstrip("?")
        all_matching = request.POST.get("all_matching") == "1"
        selected = _selected_ids(request.POST.getlist("customer"))
        customer_filter = CustomerFilter.from_string(querystring)
        selection = (
            bulk_selection_matching(self.principal, customer_filter)
            if all_matching
            else bulk_selection_of_rows(self.principal, selected)
        )
        count = selection.count
        if not count:
            messages.warning(
                request,
                "Nothing to anonymize: select customers, or tick “all customers matching "
                "this filter”. Anonymized customers are skipped.",
            )
            return redirect(self.list_url(querystring))
        confirmed = request.POST.get("confirm") == "1"
        typed_error = ""
        if confirmed and count > TYPED_COUNT_ABOVE:
            typed = request.POST.get("typed_count", "").strip().replace(",", "")
            if typed != str(count):
                typed_error = (
                    f"Type the number of customers, {count}, to confirm."
                    if not typed
                    else f"You typed {typed[:20]}, but {count} customers will be anonymized."
                    " Type that number to confirm."
                )
        if not confirmed or typed_error:
            return self.render_to_response(
                self.get_context_data(
                    count=count,
                    skipped=selection.skipped(),
                    all_matching=all_matching,
                    selected=selected,
                    querystring=querystring,
                    conditions=customer_filter.describe(with_values=True),
                    list_url=self.list_url(querystring),
                    type_count=count > TYPED_COUNT_ABOVE,
                    typed_error=typed_error,
                ),
                status=400 if typed_error else 200,
            )
        job = bulk_anonymization_start(
            actor=self.principal,
            selection=selection,
            source=AnonymizationJob.Source.APP,
            request=[querystring, all_matching, sorted(selected)],
        )
        if getattr(job, "reused", False):
            messages.info(request, "This anonymization was already started: here it is.")
        else:
            messages.success(request, f"Anonymization of {job.total} customers started.")
        return redirect("customers:job", token=self.project.token, public_id=job.public_id)


def _job_or_404(view: ProjectViewMixin, public_id: Any) -> AnonymizationJob:
    job = (
        AnonymizationJob.objects.filter(project=view.project, public_id=public_id)
        .select_related("requested_by_user")
        .first()
    )
    if job is None:
        raise Http404("Job not found.")
    return job


def _when(value: datetime | None) -> str:
    return date_format(localtime(value), JOB_TIME_FORMAT) if value is not None else "—"


def job_status_payload(job: AnonymizationJob) -> dict[str, Any]:
    """What the progress bars poll: counts and states only, never a customer value."""
    stalled = job_is_stalled(job)
    return {
        "id": str(job.public_id),
        "status": job.status,
        "status_label": "Stalled" if stalled else job.get_status_display(),
        # A worker stopped beating; the watchdog re-enqueues the job (docs/reliability.md).
        "stalled": stalled,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
        "heartbeat_at_label": _when(job.heartbeat_at),
        "total": job.total,
        "done": job.done,
        "percent": job.percent,
        "not_found": len(job.not_found),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        # As the pages print them, so a live update reads the same as a reload.
        "started_at_label": _when(job.started_at),
        "finished_at_label": _when(job.finished_at),
        "error": job.error,
    }


class JobListView(AnonymizationViewMixin, TemplateView):
    template_name = "customers/job_list.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        jobs = AnonymizationJob.objects.filter(project=self.project).order_by("-created_at", "-id")
        page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
        return self.render_to_response(self.get_context_data(page=page, jobs=page.object_list))


class JobDetailView(AnonymizationViewMixin, TemplateView):
    template_name = "customers/job_detail.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        job = _job_or_404(self, kwargs["public_id"])
        return self.render_to_response(
            self.get_context_data(
                job=job, not_found_shown=job.not_found[:200], stalled=job_is_stalled(job)
            )
        )


class JobStatusView(AnonymizationViewMixin):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse(job_status_payload(_job_or_404(self, kwargs["public_id"])))
