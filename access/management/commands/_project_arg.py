"""Shared by the access commands: find a project by its token or its exact name."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from access.models import Project


def project_from_arg(value: str) -> Project:
    """The project whose token is ``value``, else the only project named ``value``."""
    try:
        token = uuid.UUID(value)
    except ValueError:
        matches = list(Project.objects.filter(name=value)[:2])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise CommandError(f"Several projects are named '{value}': pass the token.") from None
        raise CommandError(f"No project '{value}'.") from None
    project = Project.objects.filter(token=token).first()
    if project is None:
        raise CommandError(f"No project with token {value}.")
    return project
