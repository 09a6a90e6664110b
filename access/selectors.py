"""Reads about access: principals, projects a user belongs to, members, roles, keys, audit.

All django-guardian reads live here (and writes in :mod:`access.services`): other apps ask
for a :class:`~access.principal.Principal` and never call guardian themselves.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from guardian.core import ObjectPermissionChecker

from .errors import NotFound
from .models import ApiKey, Project
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
    """The principal for an (active) API key in its own project."""
    perms = frozenset(API_KEY_PERMISSIONS[name] for name in api_key.permission_names)
    return Principal(project=api_key.project, permissions=perms, api_key=api_key, ip=ip)


def principal_for_system(project: Project, *, label: str = "system") -> Principal:
    """A principal with every permission, for the command line and seeding."""
    return Principal(project=project, permissions=ALL_PERMS, system_label=label)


def api_key_authenticate(key_id: str, secret: str) -> ApiKey | None:
    """The active key with this id and secret, or None. The comparison is constant-time."""
    key = ApiKey.objects.select_related("project").filter(key_id=key_id).first()
    # Hash even when the key is unknown, so timing does not tell which key ids exist.
    candidate = hash_secret(secret)
    expected = key.secret_hash if key is not None else hash_secret("!unknown-key!")
    if not hmac.compare_digest(candidate, expected):
        return None
    if key is None or not key.is_active:
        return None
    return key


def project_by_token(token: Any) -> Project:
    try:
        return Project.objects.get(token=token)
    except (Project.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise NotFound("Project not found.") from exc
