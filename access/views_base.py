"""The base every project page stands on: project from the URL, principal, permission check.

A page declares the permission it needs; the mixin answers 404 for a project the user does
not belong to (no existence oracle) and 403 for a missing permission.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.views import View

from .client_ip import client_ip as _client_ip
from .errors import NotFound
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
        response = super().dispatch(request, *args, **kwargs)
        if self.private_cache:
            response["Cache-Control"] = "private, no-store"
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        context.update(project=self.project, principal=self.principal)
        return context
