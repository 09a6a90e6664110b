"""Reads about access: principals, projects a user belongs to, members, roles, keys, audit.

All django-guardian reads live here (and writes in :mod:`access.services`): other apps ask
for a :class:`~access.principal.Principal` and never call guardian themselves.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from guardian.core import ObjectPermissionChecker

from .errors import NotFound
from .models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    Project,
    ProjectGroupObjectPermission,
    ProjectUserObjectPermission,
    Role,
)
from .permissions import API_KEY_PERMISSIONS, Perm
from .principal import Principal

ALL_PERMS: frozenset[Perm] = frozenset(Perm)


def hash_secret(secret: str) -> str:
    """Hash an API secret. Secrets are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def projects_for_user(user: User | AnonymousUser) -> QuerySet[Project]:
    """Projects the user belongs to (every project for a superuser)."""
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if getattr(user, "is_superuser", False):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def user_project_permissions(user: User, projects: Iterable[Project]) -> dict[int, frozenset[Perm]]:
    """Permissions of ``user`` on each project, prefetched in two queries (no query per row)."""
    projects = list(projects)
    checker = ObjectPermissionChecker(user)
    checker.prefetch_perms(projects)  # type: ignore[arg-type]  # accepts any list of objects
    valid = {p.value for p in Perm}
    return {
        project.pk: frozenset(Perm(code) for code in checker.get_perms(project) if code in valid)
        for project in projects
    }


def principal_for_user(
    user: User | AnonymousUser, project: Project, *, ip: str | None = None
) -> Principal:
    """The principal for a signed-in user in ``project``; :class:`NotFound` if not a member.

    Permissions are read fresh from the database on every call (no cache), so a change
    of roles or of the Personal data toggle takes effect on the user's next request.
    """
    if not user.is_authenticated or not user.is_active:
        raise NotFound("Project not found.")
    if getattr(user, "is_superuser", False):
        return Principal(project=project, permissions=ALL_PERMS - {Perm.TRACK}, user=user, ip=ip)
    if not project.memberships.filter(user=user).exists():
        raise NotFound("Project not found.")
    perms = user_project_permissions(user, [project])[project.pk]
    return Principal(project=project, permissions=perms, user=user, ip=ip)


def principal_for_api_key(api_key: ApiKey, *, ip: str | None = None) -> Principal:
    """The principal for an (active) API key in its own project.

    A public key holds ``track`` at most, whatever its row says (the database constraint
    says so too): it is handed to every browser.
    """
    perms = frozenset(API_KEY_PERMISSIONS[name] for name in api_key.permission_names)
    if api_key.is_public:
        perms &= {Perm.TRACK}
    return Principal(project=api_key.project, permissions=perms, api_key=api_key, ip=ip)


def principal_for_system(project: Project, *, label: str = "system") -> Principal:
    """A principal with every permission, for the command line and seeding."""
    return Principal(project=project, permissions=ALL_PERMS, system_label=label)


# What a key id may look like (``secrets.token_hex`` makes them); anything else is refused
# before it reaches the database (a NUL byte makes PostgreSQL raise, not answer "no row").
KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Compared against when the key id is unknown or malformed, so every refusal does the same
# hashing and comparison as a wrong secret.
_DUMMY_SECRET_HASH = hash_secret(secrets.token_urlsafe(32))


def _api_key_with_project(key_id: str, kind: str) -> ApiKey | None:
    """The key with this id and kind and its project, read fresh (one statement, every call:
    a revoked key, a rotated secret or a changed permission applies on the next request).

    On PostgreSQL a fixed statement builds both model instances from the row: the ORM
    built and compiled the same query on every API request (a fifth of ``/batch``'s Python
    time). PostgreSQL's driver returns the column types the models hold (aware datetimes,
    UUIDs, booleans); SQLite's does not, so it takes the ORM path.
    """
    if connection.vendor != "postgresql":
        return ApiKey.objects.select_related("project").filter(key_id=key_id, kind=kind).first()
    with connection.cursor() as cursor:
        cursor.execute(_key_with_project_sql(), [key_id, kind])
        row = cursor.fetchone()
    if row is None:
        return None
    key_fields, project_fields = _KEY_COLUMNS
    key = ApiKey.from_db(connection.alias, key_fields, row[: len(key_fields)])
    project = Project.from_db(connection.alias, project_fields, row[len(key_fields) :])
    ApiKey._meta.get_field("project").set_cached_value(key, project)  # as select_related
    return key


def _concrete_columns(model: type[Any]) -> tuple[list[str], list[str]]:
    fields = model._meta.concrete_fields
    return [f.attname for f in fields], [f.column for f in fields]


_KEY_COLUMNS: tuple[list[str], list[str]] = (
    _concrete_columns(ApiKey)[0],
    _concrete_columns(Project)[0],
)


@functools.cache
def _key_with_project_sql() -> str:
    quote = connection.ops.quote_name
    key_table, project_table = ApiKey._meta.db_table, Project._meta.db_table
    columns = [f"k.{quote(c)}" for c in _concrete_columns(ApiKey)[1]]
    columns += [f"p.{quote(c)}" for c in _concrete_columns(Project)[1]]
    project_fk = ApiKey._meta.get_field("project").column  # type: ignore[union-attr]
    return (
        f"SELECT {', '.join(columns)} FROM {quote(key_table)} k "  # noqa: S608  (fixed names)
        f'JOIN {quote(project_table)} p ON p."id" = k.{quote(project_fk)} '
        f"WHERE k.{quote('key_id')} = %s AND k.{quote('kind')} = %s"
    )


def api_key_authenticate(key_id: str, secret: str) -> ApiKey | None:
    """The active private key with this id and secret, or None (constant-time comparison).

    The secret before the last rotation is accepted until its grace period ends; the key
    returned then has ``used_previous_secret`` set (the Authorization API's revoke reads it).
    """
    key = _api_key_with_project(key_id, ApiKey.PRIVATE) if KEY_ID_RE.fullmatch(key_id) else None
    # Hash even when the key is unknown, so timing does not tell which key ids exist.
    candidate = hash_secret(secret)
    expected = key.secret_hash if key is not None else _DUMMY_SECRET_HASH
    current_ok = hmac.compare_digest(candidate, expected)
    if key is None or not key.is_active:
        return None
    if current_ok:
        key.used_previous_secret = False  # type: ignore[attr-defined]
        return key
    # Only a known key in its grace period compares a second time: that tells nothing
    # about which ids exist that the grace period's own key does not already.
    if key.previous_secret_valid_at(timezone.now()) and hmac.compare_digest(
        candidate, key.previous_secret_hash
    ):
        key.used_previous_secret = True  # type: ignore[attr-defined]
        return key
    return None


def public_key_authenticate(token: str) -> ApiKey | None:
    """The active public key with this token (its ``key_id``), or None.

    A public key is public by design (it sits in every page that tracks), so there is no
    secret to compare; a private key's id never authenticates this way.
    """
    if not KEY_ID_RE.fullmatch(token):
        return None
    key = _api_key_with_project(token, ApiKey.PUBLIC)
    if key is not None and not key.is_active:
        return None
    if key is not None:
        key.used_previous_secret = False  # type: ignore[attr-defined]
    return key


def project_by_token(token: Any) -> Project:
    try:
        return Project.objects.get(token=token)
    except (Project.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise NotFound("Project not found.") from exc


# ---------------------------------------------------------------------------
# Access management pages: team, roles, keys, audit log (all scoped to one project)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    """One row of the team table: the user, their roles, direct grants and what roles give."""

    user: User
    roles: list[Role]
    direct: frozenset[Perm]
    from_roles: frozenset[Perm]
    joined_at: datetime

    @property
    def effective(self) -> frozenset[Perm]:
        return self.direct | self.from_roles

    @property
    def is_admin(self) -> bool:
        return Perm.MANAGE_ACCESS in self.effective

    @property
    def personal_data(self) -> bool:
        return Perm.VIEW_PERSONAL_DATA in self.effective

    @property
    def personal_data_via_role(self) -> bool:
        return Perm.VIEW_PERSONAL_DATA in self.from_roles

    @property
    def anonymize(self) -> bool:
        return Perm.ANONYMIZE_CUSTOMERS in self.effective

    @property
    def anonymize_via_role(self) -> bool:
        return Perm.ANONYMIZE_CUSTOMERS in self.from_roles


def _perm_rows(qs: QuerySet[Any], key: str) -> dict[int, set[Perm]]:
    valid = {p.value for p in Perm}
    out: dict[int, set[Perm]] = {}
    for owner_id, code in qs.values_list(key, "permission__codename"):
        if code in valid:
            out.setdefault(owner_id, set()).add(Perm(code))
    return out


def role_permissions_map(project: Project) -> dict[int, frozenset[Perm]]:
    """Permissions of every role of ``project`` by role id, in one query."""
    by_group = _perm_rows(
        ProjectGroupObjectPermission.objects.filter(content_object=project), "group_id"
    )
    return {
        role.pk: frozenset(by_group.get(role.group_id, set()))
        for role in Role.objects.filter(project=project)
    }


def roles_for_project(principal: Principal) -> list[tuple[Role, frozenset[Perm], int]]:
    """Roles of the principal's project with their permissions and number of holders."""
    project = principal.project
    perms = role_permissions_map(project)
    roles = Role.objects.filter(project=project).annotate(
        holders=Count("group__user", filter=Q(group__user__memberships__project=project))
    )
    return [(role, perms.get(role.pk, frozenset()), role.holders) for role in roles]  # type: ignore[attr-defined]


def members_for_project(principal: Principal) -> list[MemberRow]:
    """The project's members with roles and direct grants, in a fixed number of queries."""
    project = principal.project
    role_perms = role_permissions_map(project)
    roles = {r.group_id: r for r in Role.objects.filter(project=project)}
    direct = _perm_rows(
        ProjectUserObjectPermission.objects.filter(content_object=project), "user_id"
    )
    memberships = (
        Membership.objects.filter(project=project)
        .select_related("user")
        .prefetch_related("user__groups")
        .order_by("user__username")
    )
    rows = []
    for membership in memberships:
        user = membership.user
        user_roles = [roles[g.pk] for g in user.groups.all() if g.pk in roles]
        user_roles.sort(key=lambda r: (not r.builtin, r.name))
        from_roles: set[Perm] = set()
        for role in user_roles:
            from_roles |= role_perms.get(role.pk, frozenset())
        rows.append(
            MemberRow(
                user=user,
                roles=user_roles,
                direct=frozenset(direct.get(user.pk, set())),
                from_roles=frozenset(from_roles),
                joined_at=membership.created_at,
            )
        )
    return rows


def member_user(principal: Principal, user_id: Any) -> User:
    """A member of the principal's project by user id; :class:`NotFound` otherwise."""
    User = get_user_model()
    try:
        return User.objects.get(pk=int(user_id), memberships__project=principal.project)
    except (User.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("Member not found.") from exc


def role_in_project(principal: Principal, role_id: Any) -> Role:
    try:
        return Role.objects.select_related("group").get(pk=int(role_id), project=principal.project)
    except (Role.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("Role not found.") from exc


def roles_by_ids(principal: Principal, role_ids: Iterable[Any]) -> list[Role]:
    """Roles of the principal's project by id; :class:`NotFound` if any is foreign or missing."""
    try:
        ids = {int(i) for i in role_ids}
    except (ValueError, TypeError) as exc:
        raise NotFound("Role not found.") from exc
    roles = list(Role.objects.select_related("group").filter(project=principal.project, pk__in=ids))
    if len(roles) != len(ids):
        raise NotFound("Role not found.")
    return roles


def api_keys_for_project(principal: Principal) -> QuerySet[ApiKey]:
    """The project's API keys, active first."""
    return ApiKey.objects.filter(project=principal.project).order_by(
        F("revoked_at").desc(nulls_first=True), "name", "id"
    )


def api_key_in_project(principal: Principal, key_pk: Any) -> ApiKey:
    try:
        return ApiKey.objects.get(pk=int(key_pk), project=principal.project)
    except (ApiKey.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("API key not found.") from exc


def audit_events_for_project(
    principal: Principal,
    *,
    actor: str = "",
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The project's audit events, newest first, filtered by actor label, action and dates."""
    qs = AuditEvent.objects.filter(project=principal.project).order_by("-created_at", "-id")
    if actor:
        qs = qs.filter(actor_label=actor)
    if action:
        qs = qs.filter(Q(action=action) | Q(action__startswith=f"{action}."))
    if date_from is not None:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(created_at__date__lte=date_to)
    return qs


def audit_filter_choices(principal: Principal) -> tuple[list[str], list[str]]:
    """Distinct actors and actions in the project's audit log, for the filter menus."""
    base = AuditEvent.objects.filter(project=principal.project).order_by()
    actors = sorted(set(base.values_list("actor_label", flat=True).distinct()))
    actions = sorted(set(base.values_list("action", flat=True).distinct()))
    return actors, actions


def pending_invitations_for_project(principal: Principal) -> QuerySet[Invitation]:
    """The project's pending invitations, as the admin typed them (``invited_as``).

    Never shows whom an invitation resolved to: that would tell whether a name exists.
    """
    return (
        Invitation.objects.filter(
            project=principal.project, accepted_at__isnull=True, declined_at__isnull=True
        )
        .prefetch_related("roles")
        .order_by("-created_at", "-id")
    )


def pending_invitations_for_user(user: User) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(user=user, accepted_at__isnull=True, declined_at__isnull=True)
        .select_related("project")
        .prefetch_related("roles")
        .order_by("-created_at", "-id")
    )
