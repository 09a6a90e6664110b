"""Roles: create, rename and re-permission custom roles, delete them; read a role's perms."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from ..errors import Conflict, InvalidInput, NotFound
from ..models import Project, ProjectGroupObjectPermission, Role
from ..permissions import Perm
from ..principal import Principal
from .admin_guard import guard_last_admin, lock_project, project_admin_ids
from .audit import audit_record
from .grant_rule import require_held


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
    require_held(actor, perms)
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


def role_permissions(role: Role) -> frozenset[Perm]:
    """The permissions a role holds on its project."""
    valid = {p.value for p in Perm}
    return frozenset(
        Perm(code)
        for code in ProjectGroupObjectPermission.objects.filter(
            group=role.group, content_object_id=role.project_id
        ).values_list("permission__codename", flat=True)
        if code in valid
    )


def _role_permissions_set(role: Role, project: Project, perms: set[Perm]) -> None:
    current = {
        Perm(code)
        for code in ProjectGroupObjectPermission.objects.filter(
            group=role.group, content_object=project
        ).values_list("permission__codename", flat=True)
    }
    for perm in sorted(perms - current):
        assign_perm(perm.value, role.group, project)
    for perm in sorted(current - perms):
        remove_perm(perm.value, role.group, project)


def _custom_role_or_refuse(actor: Principal, role: Role) -> None:
    if role.project_id != actor.project.pk:
        raise NotFound("Role not found.")
    if role.builtin:
        raise InvalidInput(f"'{role.name}' is a built-in role and cannot be changed.")


@transaction.atomic
def role_update(*, actor: Principal, role: Role, name: str, permissions: Iterable[Perm]) -> Role:
    """Rename a custom role and set its permissions (built-in roles are read-only)."""
    _custom_role_or_refuse(actor, role)
    project = actor.project
    name = name.strip()
    if not name:
        raise InvalidInput("A role needs a name.")
    if Role.objects.filter(project=project, name__iexact=name).exclude(pk=role.pk).exists():
        raise Conflict(f"A role named '{name}' already exists.")
    perms = {Perm(p) for p in permissions} - {Perm.TRACK}
    lock_project(project)
    admins_before = project_admin_ids(project)
    old_name, old_perms = role.name, role_permissions(role)
    require_held(actor, perms - old_perms)
    if name != role.name:
        role.name = name
        role.save(update_fields=["name"])
        # Keyed by id ("#" never appears in names role_create builds), so no rename collides.
        role.group.name = f"project-{project.pk}#role-{role.pk}"
        role.group.save(update_fields=["name"])
    _role_permissions_set(role, project, perms)
    guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="role.update",
        target_type="role",
        target_id=role.pk,
        details={
            "name": name,
            "old_name": old_name,
            "permissions": sorted(p.value for p in perms),
            "old_permissions": sorted(p.value for p in old_perms),
        },
    )
    return role


@transaction.atomic
def role_delete(*, actor: Principal, role: Role) -> None:
    """Delete a custom role; its holders lose its permissions at once."""
    _custom_role_or_refuse(actor, role)
    project = actor.project
    lock_project(project)
    admins_before = project_admin_ids(project)
    role_id, name, group = role.pk, role.name, role.group
    role.delete()
    group.delete()
    guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="role.delete",
        target_type="role",
        target_id=role_id,
        details={"name": name},
    )
