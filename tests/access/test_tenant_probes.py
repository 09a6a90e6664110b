"""Tenants cannot probe each other: an admin learns nothing about users outside the project.

"Invite by username" and "invite by e-mail" answer byte-for-byte alike (the typed name
aside) whether the person exists in another project or nowhere; the project's audit log
and team page read alike; nobody joins without accepting; generated usernames carry no
counter.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent, Invitation, Membership, Role
from access.selectors import principal_for_user
from tests import factories
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _url(name: str, world: World) -> str:
    return reverse(f"access:{name}", kwargs={"token": world.project.token})


def _answer(client: Client, path: str, data: dict[str, Any], typed: str) -> dict[str, Any]:
    response = client.post(path, data)
    team = client.get(response["Location"]) if response.status_code == 302 else None
    body = team.content.decode() if team is not None else response.content.decode()
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)
    return {
        "status": response.status_code,
        "location": response.get("Location"),
        "messages": [str(m).replace(typed, "<typed>") for m in get_messages(response.wsgi_request)],
        "page": body.replace(typed, "<typed>"),
    }


def _project_audit(world: World) -> list[tuple[str, str, Any]]:
    return [
        (e.action, e.target_type, e.details)
        for e in AuditEvent.objects.filter(
            project=world.project, action__startswith="member."
        ).order_by("id")
    ]


@pytest.fixture
def admin_client(world: World) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def test_invite_by_username_answers_alike_for_another_tenants_user_and_for_nobody(
    world: World, admin_client: Client
) -> None:
    viewer = Role.objects.get(project=world.project, name="Viewer")
    seen = []
    for typed in ("olga", "ghost-user"):  # olga: admin of the other project; ghost: nobody
        before = len(_project_audit(world))
        answer = _answer(
            admin_client,
            _url("member_add", world),
            {"username": typed, "roles": [viewer.pk]},
            typed,
        )
        answer["audit"] = _project_audit(world)[before:]
        seen.append(answer)
        # Each probe starts from the same state (the page lists pending invitations).
        Invitation.objects.filter(project=world.project).delete()
    assert seen[0]["status"] == 302
    assert seen[0] == seen[1]
    # And olga was not added behind her back.
    assert not Membership.objects.filter(project=world.project, user=world.outsider).exists()


def test_invite_by_email_answers_alike_for_a_known_and_an_unknown_address(
    world: World, admin_client: Client
) -> None:
    seen = []
    for typed in ("olga@staff.invalid", "fresh.person@staff.invalid"):
        before = len(_project_audit(world))
        answer = _answer(admin_client, _url("member_create", world), {"email": typed}, typed)
        answer["audit"] = _project_audit(world)[before:]
        seen.append(answer)
        # Each probe starts from the same state (the page lists pending invitations).
        Invitation.objects.filter(project=world.project).delete()
    assert seen[0]["status"] == 302
    assert seen[0] == seen[1]
    # No "user.create" in the project's audit log (it would tell the address was new).
    assert not AuditEvent.objects.filter(project=world.project, action="user.create").exists()
    assert AuditEvent.objects.filter(project=None, action="user.create").count() == 1
    assert not Membership.objects.filter(project=world.project, user=world.outsider).exists()


def test_generated_usernames_reveal_nothing(world: World, admin_client: Client) -> None:
    get_user_model().objects.create_user(username="admin", email="root@elsewhere.invalid")
    admin_client.post(_url("member_create", world), {"email": "admin@staff.invalid"})
    admin_client.post(_url("member_create", world), {"email": "brandnew@staff.invalid"})
    made = {
        inv.invited_as: inv.user.get_username()
        for inv in Invitation.objects.filter(project=world.project).select_related("user")
        if inv.user is not None
    }
    assert made["admin@staff.invalid"] != "admin2"
    assert re.fullmatch(r"admin-[0-9a-f]{6}", made["admin@staff.invalid"])
    assert re.fullmatch(r"brandnew-[0-9a-f]{6}", made["brandnew@staff.invalid"])


def test_only_the_invited_user_can_answer_an_invitation(world: World, admin_client: Client) -> None:
    admin_client.post(_url("member_add", world), {"username": "olga"})
    invitation = Invitation.objects.get(project=world.project, invited_as="olga")
    intruder = factories.make_member(world.other_project, "ivan")
    for user, expected in ((intruder, 404), (world.marketer, 404)):
        client = Client()
        client.force_login(user)
        for name in ("invitation_accept", "invitation_decline"):
            path = reverse(name, kwargs={"invitation_id": invitation.pk})
            assert client.post(path).status_code == expected
    assert not Membership.objects.filter(project=world.project, user=intruder).exists()
    olga = Client()
    olga.force_login(world.outsider)
    assert olga.post(reverse("invitation_decline", kwargs={"invitation_id": invitation.pk}))
    invitation.refresh_from_db()
    assert invitation.declined_at is not None
    accept = reverse("invitation_accept", kwargs={"invitation_id": invitation.pk})
    assert olga.post(accept).status_code == 404  # declined is final
    with pytest.raises(Exception):  # noqa: B017
        principal_for_user(world.outsider, world.project)


def test_inviting_a_name_again_reaches_whoever_has_it_now(
    world: World, admin_client: Client
) -> None:
    admin_client.post(_url("member_add", world), {"username": "late-comer"})
    late = get_user_model().objects.create_user(username="late-comer")
    admin_client.post(_url("member_add", world), {"username": "late-comer"})
    invitation = Invitation.objects.get(project=world.project, invited_as="late-comer")
    assert invitation.user == late
