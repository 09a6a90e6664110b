"""Members: add, set roles, grant or withdraw direct permissions, remove."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, User
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from ..errors import InvalidInput, NotFound
from ..models import Membership, Project, ProjectUserObjectPermission, Role
from ..permissions import DIRECT_GRANTS, Perm
from ..principal import Principal
from .admin_guard import guard_last_admin, lock_project, project_admin_ids
from .audit import audit_record
from .grant_rule import require_held
from .roles import role_permissions


def require_roles_held(actor: Principal, roles: Iterable[Role]) -> None:
    """Giving someone a role grants its permissions: the actor must hold them all."""
    wanted: set[Perm] = set()
    for role in roles:
        wanted |= role_permissions(role)
    require_held(actor, wanted)


def project_roles(project: Project, roles: Iterable[Role]) -> list[Role]:
    """``roles`` as a list, refused (404) if one belongs to another project."""
    role_list = list(roles)
    if any(role.project_id != project.pk for role in role_list):
        raise NotFound("Role not found.")
    return role_list


def _member_or_404(project: Project, user: User) -> Membership:
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


@transaction.atomic
def member_add(*, actor: Principal, user: User, roles: Iterable[Role] = ()) -> Membership:
    """Add ``user`` to the actor's project with ``roles`` (idempotent for an existing member)."""
    role_list = project_roles(actor.project, roles)
    require_roles_held(actor, role_list)
    return member_add_checked(actor=actor, user=user, role_list=role_list)


def member_add_checked(*, actor: Principal, user: User, role_list: list[Role]) -> Membership:
    """Add ``user`` with roles already checked (by the grant rule, or at invitation time)."""
    project = actor.project
    membership, created = Membership.objects.get_or_create(project=project, user=user)
    for role in role_list:
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
        require_held(actor, [perm])
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


@transaction.atomic
def member_roles_set(*, actor: Principal, user: User, roles: Iterable[Role]) -> list[Role]:
    """Set the member's roles in the actor's project to exactly ``roles``."""
    project = actor.project
    lock_project(project)
    _member_or_404(project, user)
    wanted = project_roles(project, roles)
    admins_before = project_admin_ids(project)
    current = list(Role.objects.filter(project=project, group__user=user))
    wanted_ids = {r.pk for r in wanted}
    current_ids = {r.pk for r in current}
    removed = [r for r in current if r.pk not in wanted_ids]
    added = [r for r in wanted if r.pk not in current_ids]
    if not removed and not added:
        return wanted
    require_roles_held(actor, added)
    user.groups.remove(*[r.group for r in removed])  # type: ignore[attr-defined]
    user.groups.add(*[r.group for r in added])  # type: ignore[attr-defined]
    guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="member.roles_set",
        target_type="user",
        target_id=user.pk,
        details={
            "username": user.get_username(),
            "roles": sorted(r.name for r in wanted),
            "added": sorted(r.name for r in added),
            "removed": sorted(r.name for r in removed),
        },
    )
    return wanted


@transaction.atomic
def member_remove(*, actor: Principal, user: User) -> None:
    """Remove ``user`` from the actor's project: membership, project roles and direct grants."""
    project = actor.project
    lock_project(project)
    membership = _member_or_404(project, user)
    admins_before = project_admin_ids(project)
    groups = Group.objects.filter(role__project=project, user=user)
    user.groups.remove(*groups)  # type: ignore[attr-defined]
    ProjectUserObjectPermission.objects.filter(content_object=project, user=user).delete()
    membership.delete()
    guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="member.remove",
        target_type="user",
        target_id=user.pk,
        details={"username": user.get_username()},
    )
