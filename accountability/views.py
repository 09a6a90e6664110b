"""Pages of the access log: a customer's access history and the project's access log.

Both need ``view_access_log``. Entries hold names and internal ids only, so these pages
show nothing masked and are not themselves accesses to personal data.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from access.permissions import Perm
from access.views_base import ProjectViewMixin
from customers.models import Customer

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
