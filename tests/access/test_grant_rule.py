"""The grant rule: a member with Access management can grant only the permissions it holds.

Every escalation path (custom role, role edit, role assignment, direct grant, API key) is
tried for every project permission by a manager who holds all of them but that one; each
answers 403 naming the permission and changes nothing. Admins keep full power.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import ApiKey, AuditEvent, Role
from access.permissions import API_KEY_PERMISSIONS, DIRECT_GRANTS, PROJECT_PERMISSIONS, Perm
from access.selectors import principal_for_user
from access.services import role_create, role_permissions
from tests import factories

pytestmark = pytest.mark.django_db

LABELS = dict(PROJECT_PERMISSIONS)
# Every project permission except Access management itself (the manager needs that one).
LACKABLE = [Perm(code) for code, _label in PROJECT_PERMISSIONS if code != Perm.MANAGE_ACCESS]
API_NAME = {perm: name for name, perm in API_KEY_PERMISSIONS.items()}


def _url(name: str, project: Any, **kwargs: Any) -> str:
    return reverse(f"access:{name}", kwargs={"token": project.token, **kwargs})


def _manager_lacking(perm: Perm) -> tuple[Any, Any, Client]:
    """A project whose member 'manny' holds every permission but ``perm``, signed in."""
    project = factories.make_project()
    factories.make_member(project, "alice", roles=("Admin",))
    held = {Perm(code) for code, _l in PROJECT_PERMISSIONS} - {perm}
    system = factories.system(project)
    role_create(actor=system, name="Manager", permissions=held)
    manny = factories.make_member(project, "manny", roles=("Manager",))
    assert principal_for_user(manny, project).permissions == held
    client = Client()
    client.force_login(manny)
    return project, manny, client


def _refused(response: Any, perm: Perm) -> None:
    assert response.status_code == 403
    body = response.content.decode()
    assert perm.value in body
    assert LABELS[perm] in body


@pytest.mark.parametrize("perm", LACKABLE, ids=str)
def test_a_manager_cannot_create_or_widen_a_role_with_a_permission_it_lacks(perm: Perm) -> None:
    project, manny, client = _manager_lacking(perm)
    response = client.post(
        _url("role_create", project), {"name": "Escalate", "permissions": [perm.value]}
    )
    _refused(response, perm)
    assert not Role.objects.filter(project=project, name="Escalate").exists()

    mine = role_create(
        actor=principal_for_user(manny, project), name="Mine", permissions=[Perm.MANAGE_ACCESS]
    )
    response = client.post(
        _url("role_edit", project, role_id=mine.pk),
        {"name": "Mine", "permissions": [Perm.MANAGE_ACCESS.value, perm.value]},
    )
    _refused(response, perm)
    assert role_permissions(mine) == {Perm.MANAGE_ACCESS}
    assert perm not in principal_for_user(manny, project).permissions


@pytest.mark.parametrize("perm", LACKABLE, ids=str)
def test_a_manager_cannot_give_a_role_holding_a_permission_it_lacks(perm: Perm) -> None:
    project, manny, client = _manager_lacking(perm)
    admin_role = Role.objects.get(project=project, name="Admin")
    response = client.post(
        _url("member_roles", project, user_id=manny.pk), {"roles": [admin_role.pk]}
    )
    _refused(response, perm)
    assert perm not in principal_for_user(manny, project).permissions
    assert not admin_role.group.user_set.filter(pk=manny.pk).exists()


@pytest.mark.parametrize("perm", sorted(DIRECT_GRANTS), ids=str)
def test_a_manager_cannot_grant_directly_a_permission_it_lacks(perm: Perm) -> None:
    project, manny, client = _manager_lacking(perm)
    response = client.post(
        _url("member_grant", project, user_id=manny.pk), {"perm": perm.value, "granted": "on"}
    )
    _refused(response, perm)
    assert perm not in principal_for_user(manny, project).permissions
    assert not AuditEvent.objects.filter(project=project, action="member.grant").exists()


@pytest.mark.parametrize("perm", [p for p in LACKABLE if p in API_NAME], ids=str)
def test_a_manager_cannot_create_an_api_key_with_a_permission_it_lacks(perm: Perm) -> None:
    project, _manny, client = _manager_lacking(perm)
    response = client.post(
        _url("api_key_create", project), {"name": "Escalate", "permissions": [API_NAME[perm]]}
    )
    _refused(response, perm)
    assert not ApiKey.objects.filter(project=project).exists()


def test_what_the_manager_holds_it_may_grant_and_track_keys_need_no_user_permission() -> None:
    project, _manny, client = _manager_lacking(Perm.VIEW_PERSONAL_DATA)
    response = client.post(
        _url("api_key_create", project),
        {"name": "Tracker", "permissions": ["track", "read_customers"]},
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(project=project, name="Tracker")
    assert key.permission_names == ["track", "read_customers"]
    response = client.post(
        _url("role_create", project),
        {"name": "Exporters", "permissions": [Perm.EXPORT_CUSTOMERS.value]},
    )
    assert response.status_code == 302


def test_admins_keep_full_power() -> None:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    bob = factories.make_member(project, "bob", roles=("Viewer",))
    client = Client()
    client.force_login(alice)
    every = [code for code, _l in PROJECT_PERMISSIONS]
    assert client.post(_url("role_create", project), {"name": "All", "permissions": every})
    assert role_permissions(Role.objects.get(project=project, name="All")) == set(every)
    response = client.post(
        _url("member_grant", project, user_id=bob.pk),
        {"perm": Perm.VIEW_PERSONAL_DATA.value, "granted": "on"},
    )
    assert response.status_code == 302
    assert principal_for_user(bob, project).can_see_personal_data
    response = client.post(
        _url("api_key_create", project),
        {"name": "Full", "permissions": list(API_KEY_PERMISSIONS)},
    )
    assert response.status_code == 200
    assert ApiKey.objects.get(project=project, name="Full").permission_names == list(
        API_KEY_PERMISSIONS
    )
