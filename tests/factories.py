"""Shared builders for tests: projects, members with roles, API keys, tracked customers."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from access.models import ApiKey, Project, Role
from access.permissions import Perm
from access.principal import Principal
from access.selectors import principal_for_api_key, principal_for_system, principal_for_user
from access.services import api_key_create, member_add, member_set_direct_grant, project_create
from customers.models import Customer
from customers.services import customer_update, event_track

PASSWORD = "correct-horse-battery-staple"


def make_project(name: str = "Shop") -> Project:
    return project_create(name=name, created_by="tests")


def system(project: Project) -> Principal:
    return principal_for_system(project, label="tests")


def make_member(
    project: Project,
    username: str,
    *,
    roles: tuple[str, ...] = ("Viewer",),
    personal_data: bool = False,
) -> Any:
    """A user in ``project`` holding the named roles, optionally with the Personal data grant."""
    User = get_user_model()
    user = User.objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@staff.invalid"
    )
    role_objs = [Role.objects.get(project=project, name=r) for r in roles]
    member_add(actor=system(project), user=user, roles=role_objs)
    if personal_data:
        member_set_direct_grant(
            actor=system(project), user=user, perm=Perm.VIEW_PERSONAL_DATA, granted=True
        )
    return user


def principal_of(user: Any, project: Project) -> Principal:
    return principal_for_user(user, project)


@dataclass
class KeyCredentials:
    key: ApiKey
    secret: str

    @property
    def basic(self) -> str:
        raw = f"{self.key.key_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @property
    def principal(self) -> Principal:
        return principal_for_api_key(self.key)


def make_key(project: Project, *permissions: str, name: str = "Script") -> KeyCredentials:
    key, secret = api_key_create(actor=system(project), name=name, permissions=permissions)
    return KeyCredentials(key=key, secret=secret)


def track_customer(
    project: Project,
    ids: dict[str, str],
    properties: dict[str, Any] | None = None,
    events: list[tuple[str, dict[str, Any]]] | None = None,
) -> Customer:
    """Track a customer and their events the way the API would."""
    actor = system(project)
    tracked = customer_update(actor=actor, ids=ids, properties=properties or {})
    for index, (event_type, props) in enumerate(events or []):
        event_track(
            actor=actor,
            ids=ids,
            event_type=event_type,
            timestamp=1_700_000_000 + index,
            properties=props,
        )
    return tracked.customer
