"""The last-admin guard: a project that has an admin always keeps one.

An "admin" is a member holding manage_access (through a role or a direct grant): only an
admin can repair access, so a project must always keep at least one.
"""

from __future__ import annotations

from django.db.models import Q

from ..errors import Conflict
from ..models import (
    Membership,
    Project,
    ProjectGroupObjectPermission,
    ProjectUserObjectPermission,
)
from ..permissions import Perm

ADMIN_PERMISSION = Perm.MANAGE_ACCESS


def lock_project(project: Project) -> None:
    """Serialize changes that could remove a project's last admin (the guard's count).

    Every service that calls :func:`guard_last_admin` takes this row lock first, so a second
    concurrent demotion waits and then counts the admins the first one left (PostgreSQL;
    SQLite's IMMEDIATE transactions already serialize writers).
    """
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).get()


def project_admin_ids(project: Project) -> set[int]:
    """Ids of the active members of ``project`` who hold ``manage_access``."""
    admin_groups = ProjectGroupObjectPermission.objects.filter(
        content_object=project, permission__codename=ADMIN_PERMISSION.value
    ).values("group_id")
    direct = ProjectUserObjectPermission.objects.filter(
        content_object=project, permission__codename=ADMIN_PERMISSION.value
    ).values("user_id")
    return set(
        Membership.objects.filter(project=project, user__is_active=True)
        .filter(Q(user__groups__in=admin_groups) | Q(user__in=direct))
        .values_list("user_id", flat=True)
    )


def guard_last_admin(project: Project, admins_before: set[int]) -> None:
    """Refuse (and so roll back) a change that left a project that had an admin without one."""
    if admins_before and not project_admin_ids(project):
        raise Conflict(
            "The project would be left without an admin: at least one member must keep "
            "the Access management permission."
        )
