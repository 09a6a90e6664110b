"""Consent pages: the categories (Data & Assets) and one customer's consents.

The categories page needs View customers to read and Data manager to change; a
customer's consents need View customers, and their values pass the request's Masker.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from access.errors import DomainError, NotFound
from access.permissions import Perm
from access.views_base import ProjectViewMixin
from accountability.models import Channel
from accountability.services import access_record_shown
from customers.selectors import customer_get, id_names, ids_of_customers
from datamanager.masking import Masker

from . import selectors, services
from .forms import ConsentCategoryForm


class CategoriesView(ProjectViewMixin, View):
    permission_required: ClassVar[Perm | None] = Perm.VIEW_CUSTOMERS
    error_back_url_name = "consents:categories"
    error_back_label = "Back to consent categories"

    def page(self, request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
        context: dict[str, Any] = {
            "project": self.project,
            "principal": self.principal,
            "categories": list(selectors.categories_for(self.project)),
            "can_manage": self.principal.has(Perm.MANAGE_DATA),
            "form": ConsentCategoryForm(),
        }
        context.update(extra)
        return render(request, "consents/categories.html", context, status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.page(request)


class CategoryCreateView(CategoriesView):
    permission_required = Perm.MANAGE_DATA
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = ConsentCategoryForm(request.POST)
        if not form.is_valid():
            return self.page(request, status=400, form=form, open_panel="create")
        try:
            category = services.consent_category_create(actor=self.principal, **form.cleaned_data)
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            return self.page(
                request, status=exc.status_code, form=form, error=exc.message, open_panel="create"
            )
        messages.success(request, f"Consent category '{category.name}' was created.")
        return redirect("consents:categories", token=self.project.token)


class CategoryEditView(CategoriesView):
    permission_required = Perm.MANAGE_DATA
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        category = selectors.category_in_project(self.principal, kwargs["category_id"])
        form = ConsentCategoryForm({**request.POST.dict(), "name": category.name})
        if not form.is_valid():
            return self.page(request, status=400, error="Check the category's fields.")
        services.consent_category_update(
            actor=self.principal,
            category=category,
            label=form.cleaned_data["label"],
            description=form.cleaned_data["description"],
            legitimate_interest=form.cleaned_data["legitimate_interest"],
        )
        messages.success(request, f"Consent category '{category.name}' was saved.")
        return redirect("consents:categories", token=self.project.token)


class CategoryDeleteView(CategoriesView):
    permission_required = Perm.MANAGE_DATA
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        category = selectors.category_in_project(self.principal, kwargs["category_id"])
        services.consent_category_delete(actor=self.principal, category=category)
        messages.success(request, f"Consent category '{category.name}' was deleted.")
        return redirect("consents:categories", token=self.project.token)


class CustomerConsentsView(ProjectViewMixin, View):
    """One customer's consent state per category and its history (masked as the profile)."""

    permission_required: ClassVar[Perm | None] = Perm.VIEW_CUSTOMERS

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = customer_get(self.principal, kwargs["customer_id"])
        masker = Masker.for_principal(self.principal)
        hard = id_names(self.project)
        ids = ids_of_customers([customer.pk]).get(customer.pk, {})
        shown_ids = {
            name: ", ".join(str(v) for v in value) if isinstance(value, list) else value
            for name, value in masker.customer_ids(
                {n: (v[0] if hard.get(n) else v) for n, v in sorted(ids.items())}
            ).items()
        }
        states = selectors.consent_states(masker, customer)
        access_record_shown(
            actor=self.principal,
            masker=masker,
            channel=Channel.PAGE,
            view="consents.customer",
            customer_ids=[customer.pk],
        )
        return render(
            request,
            "consents/customer.html",
            {
                "project": self.project,
                "principal": self.principal,
                "customer": customer,
                "ids": shown_ids,
                "states": states,
            },
        )
