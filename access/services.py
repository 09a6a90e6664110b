"""Every write about access: projects, members, roles, direct grants, API keys, audit log.

Each service is keyword-only, atomic, takes the acting principal (or, for project creation
and user-level commands, a label) and writes the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from .errors import Conflict, InvalidInput, NotFound
from .models import ApiKey, AuditEvent, Membership, Project, Role
from .permissions import API_KEY_PERMISSIONS, BUILTIN_ROLES, DIRECT_GRANTS, Perm
from .principal import Principal
from .selectors import hash_secret, principal_for_system
from .signals import project_created


def audit_record(
    *,
    actor: Principal,
    action: str,
    target_type: str = "",
    target_id: object = "",
    details: dict[str, Any] | None = None,
    project: Project | None = None,
) -> AuditEvent:
    """Append one audit event. ``details`` must hold names and internal ids, never PII values."""
    return AuditEvent.objects.create(
        project=project or actor.project,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:200],
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        ip=actor.ip,
    )


def _role_group_name(project: Project, name: str) -> str:
    return f"project-{project.pk}:{name}"[:150]


@transaction.atomic
def role_create(
    *, actor: Principal, name: str, permissions: Iterable[Perm], builtin: bool = False
) -> Role:
    """Create a role in the actor's project holding ``permissions`` (guardian group perms)."""
    project = actor.project
    name = name.strip()
    if not name:
        raise InvalidInput("A role needs a name.")
    if Role.objects.filter(project=project, name__iexact=name).exists():
        raise Conflict(f"A role named '{name}' already exists.")
    perms = sorted({Perm(p) for p in permissions} - {Perm.TRACK})
    group = Group.objects.create(name=_role_group_name(project, name))
    role = Role.objects.create(project=project, name=name, group=group, builtin=builtin)
    for perm in perms:
        assign_perm(perm.value, group, project)
    audit_record(
        actor=actor,
        action="role.create",
        target_type="role",
        target_id=role.pk,
        details={"name": name, "permissions": [p.value for p in perms]},
    )
    return role


@transaction.atomic
def project_create(*, name: str, created_by: str = "system") -> Project:
    """Create a project with its built-in roles; listeners add the default ID attributes."""
    name = name.strip()
    if not name:
        raise InvalidInput("A project needs a name.")
    project = Project.objects.create(name=name)
    actor = principal_for_system(project, label=created_by)
    audit_record(actor=actor, action="project.create", target_type="project", target_id=project.pk)
    for role_name, perms in BUILTIN_ROLES.items():
        role_create(actor=actor, name=role_name, permissions=perms, builtin=True)
    project_created.send(sender=Project, project=project, actor=actor)
    return project


@transaction.atomic
def member_add(*, actor: Principal, user: User, roles: Iterable[Role] = ()) -> Membership:
    """Add ``user`` to the actor's project with ``roles`` (idempotent for an existing member)."""
    project = actor.project
    membership, created = Membership.objects.get_or_create(project=project, user=user)
    role_list = list(roles)
    for role in role_list:
        if role.project_id != project.pk:
            raise NotFound("Role not found.")
        user.groups.add(role.group)  # type: ignore[attr-defined]
    if created or role_list:
        audit_record(
            actor=actor,
            action="member.add" if created else "member.roles_add",
            target_type="user",
            target_id=user.pk,
            details={"username": user.get_username(), "roles": [r.name for r in role_list]},
        )
    return membership


@transaction.atomic
def member_set_direct_grant(*, actor: Principal, user: User, perm: Perm, granted: bool) -> None:
    """Grant or withdraw a direct user permission (Personal data, Anonymize customers)."""
    if perm not in DIRECT_GRANTS:
        raise InvalidInput(f"'{perm.value}' cannot be granted directly.")
    project = actor.project
    if not Membership.objects.filter(project=project, user=user).exists():
        raise NotFound("Member not found.")
    if granted:
        assign_perm(perm.value, user, project)
    else:
        remove_perm(perm.value, user, project)
    audit_record(
        actor=actor,
        action="member.grant" if granted else "member.revoke_grant",
        target_type="user",
        target_id=user.pk,
        details={"permission": perm.value},
    )


def user_get_or_create(*, username: str, email: str = "", password: str | None = None) -> Any:
    """Find or create a Django user (used by the seeder and management commands)."""
    User = get_user_model()
    user, _created = User.objects.get_or_create(username=username, defaults={"email": email})
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def api_key_create(
    *, actor: Principal, name: str, permissions: Iterable[str]
) -> tuple[ApiKey, str]:
    """Create an API key; returns it with its secret, which is never stored or shown again."""
    name = name.strip()
    if not name:
        raise InvalidInput("An API key needs a name.")
    perm_names = set(permissions)
    unknown = perm_names - set(API_KEY_PERMISSIONS)
    if unknown:
        raise InvalidInput(f"Unknown API permission(s): {', '.join(sorted(unknown))}.")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        project=actor.project,
        name=name,
        key_id=secrets.token_hex(10),
        secret_hash=hash_secret(secret),
    )
    for perm_name, field in ApiKey.PERMISSION_FIELDS.items():
        setattr(key, field, perm_name in perm_names)
    key.save()
    audit_record(
        actor=actor,
        action="api_key.create",
        target_type="api_key",
        target_id=key.pk,
        details={"name": name, "key_id": key.key_id, "permissions": key.permission_names},
    )
    return key, secret


@transaction.atomic
def api_key_revoke(*, actor: Principal, api_key: ApiKey) -> ApiKey:
    if api_key.project_id != actor.project.pk:
        raise NotFound("API key not found.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoke",
            target_type="api_key",
            target_id=api_key.pk,
            details={"name": api_key.name, "key_id": api_key.key_id},
        )
    return api_key
