"""The Retention page (Data & Assets): policies with their previews, runs with progress.

Thin views: parse the form, call one service, redirect. Pages show attribute and event type
names and counts, never a customer value. Errors are the project's error page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.views.generic import TemplateView

from access.permissions import Perm
from access.views_base import ProjectViewMixin
from customers.selectors import customer_attributes, event_type_names
from datamanager.masking import Masker
from segments.services import segments_for

from .models import RetentionPolicy, RetentionRun
from .services import (
    retention_policies,
    retention_policy_create,
    retention_policy_delete,
    retention_policy_set_enabled,
    retention_preview,
    retention_run_get,
    retention_run_start,
    retention_runs,
)


class RetentionMixin(ProjectViewMixin):
    permission_required = Perm.MANAGE_DATA
    error_title = "The retention policy was not changed"
    error_back_url_name = "retention:page"
    error_back_label = "Back to retention"


class RetentionPageView(RetentionMixin, TemplateView):
    template_name = "retention/page.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        policies = retention_policies(self.principal)
        masker = Masker.for_principal(self.principal)  # one catalog read for every preview
        attributes = [a for a in customer_attributes(self.project) if not a.is_id]
        return self.render_to_response(
            self.get_context_data(
                previews=[retention_preview(self.principal, p, masker=masker) for p in policies],
                runs=retention_runs(self.principal),
                kinds=RetentionPolicy.Kind.choices,
                attributes=attributes,
                event_types=event_type_names(self.project),
                can_anonymize=self.principal.has(Perm.ANONYMIZE_CUSTOMERS),
                can_see_personal_data=self.principal.can_see_personal_data,
                segments=[row.segment for row in segments_for(self.principal) if row.usable],
            )
        )


class RetentionPolicyCreateView(RetentionMixin):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        kind = request.POST.get("kind", "")
        policy = retention_policy_create(
            actor=self.principal,
            kind=kind,
            days=request.POST.get("days", ""),
            purpose=request.POST.get("purpose", ""),
            attribute=request.POST.get("attribute", "") if kind == "attribute" else "",
            event_type=request.POST.get("event_type", "") if kind.startswith("events") else "",
            segment=request.POST.get("segment", "") if not kind.startswith("events") else "",
            enabled=request.POST.get("enabled") == "on",
        )
        state = "enabled" if policy.enabled else "saved, not enabled yet"
        messages.success(request, f"Retention policy {state}: check its preview below.")
        return redirect("retention:page", token=self.project.token)


class RetentionPolicyEnableView(RetentionMixin):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        enabled = request.POST.get("enabled") == "1"
        retention_policy_set_enabled(actor=self.principal, policy_pk=kwargs["pk"], enabled=enabled)
        messages.success(
            request,
            "Policy enabled: it runs daily." if enabled else "Policy disabled: it no longer runs.",
        )
        return redirect("retention:page", token=self.project.token)


class RetentionPolicyDeleteView(RetentionMixin):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        retention_policy_delete(actor=self.principal, policy_pk=kwargs["pk"])
        messages.success(request, "Retention policy deleted.")
        return redirect("retention:page", token=self.project.token)


class RetentionPolicyRunView(RetentionMixin):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        run = retention_run_start(
            actor=self.principal, policy_pk=kwargs["pk"], trigger=RetentionRun.Trigger.MANUAL
        )
        return redirect("retention:run", token=self.project.token, run_id=run.public_id)


class RetentionRunView(RetentionMixin, TemplateView):
    template_name = "retention/run.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        run = retention_run_get(self.principal, kwargs["run_id"])
        return self.render_to_response(self.get_context_data(run=run))
