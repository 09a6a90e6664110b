"""The base every project page stands on: project from the URL, principal, permission check.

A page declares the permission it needs; the mixin answers 404 for a project the user does
not belong to (no existence oracle) and 403 for a missing permission.

It is also the one place a project page's :class:`~access.errors.DomainError` becomes HTML
(as :mod:`access.api.exceptions` is for the API): views raise, they do not translate.
``NotFound`` is Django's 404 (the same page as a missing URL or another project's object),
every other error renders ``templates/error.html`` with the error's status (``Forbidden``
and ``PiiFieldRefused`` 403, ``InvalidInput`` 400, ``Conflict`` 409, ``TooLarge`` 413).
A page that can show the error next to the form the user filled in catches it itself, or
overrides :meth:`ProjectViewMixin.domain_error_response`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from .client_ip import client_ip as _client_ip
from .errors import DomainError, NotFound, PiiFieldRefused
from .models import Project
from .permissions import Perm
from .principal import Principal
from .selectors import principal_for_user, project_by_token


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address, as the audit log records it (see :mod:`access.client_ip`)."""
    return _client_ip(request)


def principal_from_request(request: HttpRequest, token: Any) -> Principal:
    """The signed-in user's principal in the project of ``token``; Http404 if not a member."""
    try:
        project = project_by_token(token)
        return principal_for_user(request.user, project, ip=client_ip(request))
    except NotFound as exc:
        raise Http404("Project not found.") from exc


class ProjectViewMixin(LoginRequiredMixin, View):
    """Resolve ``self.project`` and ``self.principal`` and enforce ``permission_required``."""

    permission_required: ClassVar[Perm | None] = Perm.VIEW_CUSTOMERS
    # Pages with customer data must never be stored by a browser or proxy.
    private_cache: ClassVar[bool] = True

    # The error page's heading, what did not happen, and where its button leads (a URL
    # name taking the project token).
    error_title: ClassVar[str] = "This cannot be done"
    error_outcome: ClassVar[str] = "Nothing was changed."
    error_back_url_name: ClassVar[str] = "access:project"
    error_back_label: ClassVar[str] = "Back to the project"

    project: Project
    principal: Principal

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.principal = principal_from_request(request, kwargs["token"])
        self.project = self.principal.project
        if self.permission_required is not None and not self.principal.has(
            self.permission_required
        ):
            raise PermissionDenied(
                f"This page needs the '{self.permission_required.value}' permission."
            )
        request.principal = self.principal  # type: ignore[attr-defined]
        try:
            response = super().dispatch(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except DomainError as exc:
            response = self.domain_error_response(request, exc)
        if self.private_cache:
            response["Cache-Control"] = "private, no-store"
        return response

    def domain_error_response(self, request: HttpRequest, exc: DomainError) -> HttpResponse:
        """A refused request (never ``NotFound``) as the one error page, with its status.

        The message names attributes, ID names and counts only (see :mod:`access.errors`).
        """
        refused = exc.attribute if isinstance(exc, PiiFieldRefused) else None
        context = {
            "project": self.project,
            "principal": self.principal,
            "error": exc,
            "refused_attribute": refused,
            "title": self.error_title,
            "outcome": self.error_outcome,
            "back_url": reverse(self.error_back_url_name, kwargs={"token": self.project.token}),
            "back_label": self.error_back_label,
        }
        return render(request, "error.html", context, status=exc.status_code)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        context.update(project=self.project, principal=self.principal)
        return context
