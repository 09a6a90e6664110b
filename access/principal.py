"""The principal: who is acting, in which project, with which permissions.

This is the single answer to "may this principal do X / see personal data in this
project". A principal is built once per request (or task) by :mod:`access.selectors`
and passed to every selector and service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import Forbidden
from .permissions import Perm

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .models import ApiKey, Project


@dataclass(frozen=True)
class Principal:
    """A signed-in user, an API key or the system (CLI, seeding), within one project."""

    project: Project
    permissions: frozenset[Perm]
    user: User | None = None
    api_key: ApiKey | None = None
    # "cli", "system", "seed": set only for system principals.
    system_label: str = ""
    ip: str | None = field(default=None, compare=False)

    def has(self, perm: Perm) -> bool:
        return perm in self.permissions

    def require(self, perm: Perm) -> None:
        """Raise :class:`Forbidden` unless the principal holds ``perm``."""
        if perm not in self.permissions:
            raise Forbidden(f"This action needs the '{perm.value}' permission.")

    @property
    def can_see_personal_data(self) -> bool:
        return Perm.VIEW_PERSONAL_DATA in self.permissions

    @property
    def label(self) -> str:
        """How the audit log names the actor."""
        if self.api_key is not None:
            return f"API key {self.api_key.name} ({self.api_key.key_id})"
        if self.user is not None:
            return self.user.get_username()
        return self.system_label or "system"

    @property
    def is_api(self) -> bool:
        return self.api_key is not None
