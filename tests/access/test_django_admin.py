"""Django's admin cannot go around the services: read-only, superusers only, no guardian pages.

Each bypass found in issue 23 is tried as a staff user holding every model permission and
as a superuser; every one is refused and the database is unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from access.models import ApiKey, AuditEvent, Membership, Role
from access.selectors import principal_for_user
from access.services import project_admin_ids
from tests import factories
from tests.conftest import CANARY_EMAIL, World

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(world: World) -> Client:
    """A staff user (not superuser) holding every model permission of the installation."""
    user = get_user_model().objects.create_user(username="stef", password=factories.PASSWORD)
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.all())
    return _client(user)


@pytest.fixture
def root(world: World) -> Client:
    user = get_user_model().objects.create_superuser(
        username="root", email="root@staff.invalid", password=factories.PASSWORD
    )
    return _client(user)


def test_staff_without_superuser_sees_no_admin_page_and_no_raw_pii(
    world: World, staff: Client
) -> None:
    for path in (
        "/admin/customers/customer/",
        f"/admin/customers/customer/{world.customer.pk}/change/",
        "/admin/customers/event/",
        "/admin/access/auditevent/",
        "/admin/access/apikey/",
        "/admin/access/membership/",
        "/admin/datamanager/customerattribute/",
    ):
        response = staff.get(path)
        assert response.status_code == 403, path
        assert CANARY_EMAIL not in response.content.decode()
    index = staff.get("/admin/")
    assert b"/admin/customers/" not in index.content
    assert b"/admin/access/" not in index.content


@pytest.mark.parametrize("who", ["staff", "root"])
def test_no_one_can_forge_an_audit_event(world: World, who: str, request: Any) -> None:
    client: Client = request.getfixturevalue(who)
    before = AuditEvent.objects.count()
    response = client.post(
        "/admin/access/auditevent/add/",
        {"project": world.project.pk, "actor_label": "alice", "action": "member.remove"},
    )
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("who", ["staff", "root"])
def test_no_one_can_revive_a_revoked_api_key(world: World, who: str, request: Any) -> None:
    client: Client = request.getfixturevalue(who)
    key = world.full_key.key
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    response = client.post(
        f"/admin/access/apikey/{key.pk}/change/",
        {
            "project": world.project.pk,
            "name": key.name,
            "key_id": key.key_id,
            "can_view_personal_data": "on",
            "revoked_at_0": "",
            "revoked_at_1": "",
        },
    )
    assert response.status_code in (302, 403)  # a read-only page may redirect, never save
    key.refresh_from_db()
    assert key.revoked_at is not None
    response = Client().post(
        f"/data/v2/projects/{world.project.token}/customers/export-one",
        {"customer_ids": {"registered": CANARY_EMAIL}},
        content_type="application/json",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )
    assert response.status_code == 401


@pytest.mark.parametrize("who", ["staff", "root"])
def test_no_one_can_delete_the_only_admin_membership(world: World, who: str, request: Any) -> None:
    client: Client = request.getfixturevalue(who)
    membership = Membership.objects.get(project=world.project, user=world.admin)
    response = client.post(f"/admin/access/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert project_admin_ids(world.project) == {world.admin.pk}
    response = client.post(
        "/admin/access/membership/",
        {"action": "delete_selected", "_selected_action": [membership.pk], "post": "yes"},
    )
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_superuser_cannot_grant_through_guardian_or_the_user_and_group_pages(
    world: World, root: Client
) -> None:
    project = world.project
    mark = world.marketer
    for path in (
        f"/admin/access/project/{project.pk}/permissions/",
        f"/admin/access/project/{project.pk}/permissions/user-manage/{mark.pk}/",
    ):
        response = root.post(path, {"user": mark.username, "permissions": ["view_personal_data"]})
        assert response.status_code in (302, 403, 404), path
    admin_group = Role.objects.get(project=project, name="Admin").group
    response = root.post(
        f"/admin/auth/user/{mark.pk}/change/",
        {
            "username": mark.username,
            "email": mark.email,
            "is_active": "on",
            "groups": [admin_group.pk],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code in (200, 302)
    assert root.get(f"/admin/auth/group/{admin_group.pk}/change/").status_code == 404
    assert not principal_for_user(mark, project).can_see_personal_data
    assert not mark.groups.filter(pk=admin_group.pk).exists()


def test_superuser_may_still_read(world: World, root: Client) -> None:
    assert root.get("/admin/access/auditevent/").status_code == 200
    response = root.get(f"/admin/customers/customer/{world.customer.pk}/change/")
    assert response.status_code == 200
    assert b"Save" not in response.content
