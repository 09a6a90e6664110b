"""Access pages: the home redirect and the project overview."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.generic import TemplateView

from .selectors import pending_invitations_for_user, projects_for_user
from .views_base import ProjectViewMixin


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send the user to their only project, or let them pick one."""
    projects = list(projects_for_user(request.user)[:2])
    invitations = pending_invitations_for_user(request.user)  # type: ignore[arg-type]
    has_invitations = invitations.exists()
    if len(projects) == 1 and not has_invitations:
        return redirect("access:project", token=projects[0].token)
    return render(
        request,
        "access/project_list.html",
        {"projects": projects_for_user(request.user), "invitations": has_invitations},
    )


class ProjectHomeView(ProjectViewMixin, TemplateView):
    """The project's landing page: where the user may go from here."""

    template_name = "access/project_home.html"
    permission_required = None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return redirect(reverse("customers:list", kwargs={"token": self.project.token}))
        except NoReverseMatch:  # the customers pages are not installed
            return super().get(request, *args, **kwargs)
