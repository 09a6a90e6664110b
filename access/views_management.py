"""Access management pages (Settings): project team, roles and the audit log.

The API keys page is :mod:`access.views_api_keys`.

Every page needs ``manage_access``. Views parse a form, call one service and render; a
service's domain error re-renders the page with the message and the error's 4xx status,
so nothing is half-written and the admin sees why. The mapping is ProjectViewMixin's
(``NotFound`` is a 404 there, whatever the page); :meth:`AccessPage.domain_error_response`
only says how a Settings page shows the rest, and the views that re-show a form catch the
error themselves to keep what was typed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, ClassVar

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from . import selectors, services
from .errors import DomainError, NotFound
from .forms import (
    PERMISSION_HELP,
    AuditFilterForm,
    DirectGrantForm,
    MemberAddForm,
    MemberCreateForm,
    MemberRolesForm,
    RoleForm,
)
from .invitation_mail import send_invitation_mail
from .permissions import PROJECT_PERMISSIONS, Perm
from .views_base import ProjectViewMixin

AUDIT_PAGE_SIZE = 50


class AccessPage(ProjectViewMixin, View):
    """A Settings page: needs manage_access; ``page()`` renders it with extra context."""

    permission_required: ClassVar[Perm | None] = Perm.MANAGE_ACCESS
    template_name: ClassVar[str] = ""
    section: ClassVar[str] = ""

    def context(self) -> dict[str, Any]:
        return {}

    def page(self, request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
        context: dict[str, Any] = {
            "project": self.project,
            "principal": self.principal,
            "section": self.section,
        }
        context.update(self.context())
        context.update(extra)
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.page(request)

    def domain_error_response(self, request: HttpRequest, exc: DomainError) -> HttpResponse:
        """The page itself with the message above it, at the error's status."""
        return self.failed(request, exc)

    def failed(self, request: HttpRequest, exc: DomainError, **extra: Any) -> HttpResponse:
        """The page with the message and ``extra`` (the form as typed, its panel open)."""
        if isinstance(exc, NotFound):
            raise exc  # never shown inline: ProjectViewMixin answers 404
        return self.page(request, status=exc.status_code, error=exc.message, **extra)


# ---------------------------------------------------------------------------
# Project team
# ---------------------------------------------------------------------------


class TeamView(AccessPage):
    """Members with their roles and the Personal data / Anonymize toggles."""

    template_name = "access/team.html"
    section = "team"

    def context(self) -> dict[str, Any]:
        roles = selectors.roles_for_project(self.principal)
        return {
            "members": selectors.members_for_project(self.principal),
            "roles": [role for role, _perms, _n in roles],
            "add_form": MemberAddForm(project=self.project),
            "create_form": MemberCreateForm(project=self.project),
            "admin_count": len(services.project_admin_ids(self.project)),
            "invitations": selectors.pending_invitations_for_project(self.principal),
        }


class MemberAddView(TeamView):
    """POST: invite an existing user by username; they join when they accept.

    The answer is the same whether or not anyone has that username, in this installation
    or elsewhere (only a member of *this* project answers 409, as the team table shows).
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = MemberAddForm(request.POST, project=self.project)
        if not form.is_valid():
            return self.page(request, status=400, add_form=form, open_panel="add")
        try:
            result = services.member_invite_by_username(
                actor=self.principal,
                username=form.cleaned_data["username"],
                roles=form.cleaned_data["roles"],
            )
        except DomainError as exc:
            return self.failed(request, exc, add_form=form, open_panel="add")
        send_invitation_mail(request, result)
        messages.success(
            request,
            f"An invitation for '{result.invitation.invited_as}' was made. If such a user "
            "exists, they join when they accept it after signing in.",
        )
        return redirect("access:team", token=self.project.token)


class MemberCreateView(TeamView):
    """POST: invite by e-mail (an existing account or a new one); the same answer either way."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = MemberCreateForm(request.POST, project=self.project)
        if not form.is_valid():
            return self.page(request, status=400, create_form=form, open_panel="create")
        try:
            result = services.member_invite_by_email(
                actor=self.principal,
                email=form.cleaned_data["email"],
                roles=form.cleaned_data["roles"],
            )
        except DomainError as exc:
            return self.failed(request, exc, create_form=form, open_panel="create")
        send_invitation_mail(request, result)
        messages.success(
            request,
            f"An invitation was sent to {result.invitation.invited_as}; they join when they "
            "accept it.",
        )
        return redirect("access:team", token=self.project.token)


class MemberRolesView(TeamView):
    """POST: set the exact roles of one member."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = selectors.member_user(self.principal, kwargs["user_id"])
        form = MemberRolesForm(request.POST, project=self.project)
        if not form.is_valid():
            return self.page(request, status=400, error="Choose roles of this project.")
        services.member_roles_set(actor=self.principal, user=user, roles=form.cleaned_data["roles"])
        messages.success(request, f"Roles of {user.get_username()} were saved.")
        return redirect("access:team", token=self.project.token)


class MemberGrantView(TeamView):
    """POST: switch a direct grant (Personal data, Anonymize customers) on or off."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = selectors.member_user(self.principal, kwargs["user_id"])
        form = DirectGrantForm(request.POST)
        if not form.is_valid():
            return self.page(request, status=400, error="Unknown permission.")
        perm = Perm(form.cleaned_data["perm"])
        granted: bool = form.cleaned_data["granted"]
        services.member_set_direct_grant(
            actor=self.principal, user=user, perm=perm, granted=granted
        )
        label = dict(PROJECT_PERMISSIONS)[perm]
        state = "on" if granted else "off"
        messages.success(request, f"{label} is now {state} for {user.get_username()}.")
        return redirect("access:team", token=self.project.token)


class MemberRemoveView(TeamView):
    """POST: remove a member from the project."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = selectors.member_user(self.principal, kwargs["user_id"])
        services.member_remove(actor=self.principal, user=user)
        messages.success(request, f"{user.get_username()} was removed from the project.")
        return redirect("access:team", token=self.project.token)


# ---------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------


class RolesView(AccessPage):
    """Built-in roles (read-only) and custom roles with their permissions."""

    template_name = "access/roles.html"
    section = "roles"

    def context(self) -> dict[str, Any]:
        rows = selectors.roles_for_project(self.principal)
        return {
            "role_rows": [
                {"role": role, "perms": perms, "holders": holders} for role, perms, holders in rows
            ],
            "permissions": [
                {"code": str(code), "label": label, "help": PERMISSION_HELP.get(code, "")}
                for code, label in PROJECT_PERMISSIONS
            ],
            "form": RoleForm(),
        }


class RoleCreateView(RolesView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = RoleForm(request.POST)
        if not form.is_valid():
            return self.page(request, status=400, form=form, open_panel="create")
        try:
            role = services.role_create(
                actor=self.principal,
                name=form.cleaned_data["name"],
                permissions=[Perm(p) for p in form.cleaned_data["permissions"]],
            )
        except DomainError as exc:
            return self.failed(request, exc, form=form, open_panel="create")
        messages.success(request, f"Role '{role.name}' was created.")
        return redirect("access:roles", token=self.project.token)


class RoleEditView(AccessPage):
    """GET: a role's form (read-only for built-in roles); POST: save a custom role."""

    template_name = "access/role_form.html"
    section = "roles"

    def _role_context(self, role: Any, form: RoleForm | None = None) -> dict[str, Any]:
        perms = services.role_permissions(role)
        if form is None:
            form = RoleForm(initial={"name": role.name, "permissions": [str(p) for p in perms]})
        checked = set(form["permissions"].value() or [])
        return {
            "role": role,
            "form": form,
            "permissions": [
                {
                    "code": str(code),
                    "label": label,
                    "help": PERMISSION_HELP.get(code, ""),
                    "checked": str(code) in checked,
                }
                for code, label in PROJECT_PERMISSIONS
            ],
        }

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        role = selectors.role_in_project(self.principal, kwargs["role_id"])
        return self.page(request, **self._role_context(role))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        role = selectors.role_in_project(self.principal, kwargs["role_id"])
        form = RoleForm(request.POST)
        if not form.is_valid():
            return self.page(request, status=400, **self._role_context(role, form))
        try:
            services.role_update(
                actor=self.principal,
                role=role,
                name=form.cleaned_data["name"],
                permissions=[Perm(p) for p in form.cleaned_data["permissions"]],
            )
        except DomainError as exc:
            role.refresh_from_db()
            return self.failed(request, exc, **self._role_context(role, form))
        messages.success(request, f"Role '{role.name}' was saved.")
        return redirect("access:roles", token=self.project.token)


class RoleDeleteView(RolesView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        role = selectors.role_in_project(self.principal, kwargs["role_id"])
        name = role.name
        services.role_delete(actor=self.principal, role=role)
        messages.success(request, f"Role '{name}' was deleted.")
        return redirect("access:roles", token=self.project.token)


# ---------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------


class AuditFiltered(AccessPage):
    """Parses the audit filters from the query string (shared by the page and the CSV)."""

    def filtered(self, request: HttpRequest) -> tuple[AuditFilterForm, Any]:
        actors, actions = selectors.audit_filter_choices(self.principal)
        form = AuditFilterForm(request.GET or None, actors=actors, actions=actions)
        filters: dict[str, Any] = {}
        if form.is_bound and form.is_valid():
            filters = {k: v for k, v in form.cleaned_data.items() if v}
        return form, selectors.audit_events_for_project(self.principal, **filters)


class AuditLogView(AuditFiltered):
    """Newest first, filtered by actor, action and date range, paginated."""

    template_name = "access/audit.html"
    section = "audit"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form, events = self.filtered(request)
        if form.is_bound and not form.is_valid():
            return self.page(request, status=400, form=form, page_obj=None)
        page_obj = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return self.page(request, form=form, page_obj=page_obj, query=query.urlencode())


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Any) -> str:
    """Neutralise spreadsheet formulas (a username may start with '=')."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class AuditCsvView(AuditFiltered):
    """The filtered audit log as CSV, streamed row by row."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form, events = self.filtered(request)
        if form.is_bound and not form.is_valid():
            return HttpResponse("Invalid filter.", status=400, content_type="text/plain")
        writer = csv.writer(_Echo())

        def rows() -> Iterator[str]:
            yield writer.writerow(
                ["time", "actor", "action", "target_type", "target_id", "ip", "details"]
            )
            for event in events.iterator(chunk_size=1000):
                yield writer.writerow(
                    [
                        _csv_cell(event.created_at.isoformat()),
                        _csv_cell(event.actor_label),
                        _csv_cell(event.action),
                        _csv_cell(event.target_type),
                        _csv_cell(event.target_id),
                        _csv_cell(event.ip),
                        _csv_cell(json.dumps(event.details, sort_keys=True)),
                    ]
                )

        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response  # type: ignore[return-value]
