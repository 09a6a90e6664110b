"""Projects and installation users: create a project with its built-in roles; find a user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from ..errors import InvalidInput
from ..models import Project
from ..permissions import BUILTIN_ROLES
from ..selectors import principal_for_system
from ..signals import project_created
from .audit import audit_record
from .roles import role_create


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


def user_get_or_create(*, username: str, email: str = "", password: str | None = None) -> Any:
    """Find or create a Django user (used by the seeder and management commands)."""
    User = get_user_model()
    user, _created = User.objects.get_or_create(username=username, defaults={"email": email})
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user
