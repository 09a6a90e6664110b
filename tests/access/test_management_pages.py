"""The Settings pages as an admin uses them: what they show and what the database holds after."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import ApiKey, AuditEvent, Membership, Role
from access.permissions import Perm
from access.selectors import api_key_authenticate, principal_for_user
from access.services import audit_record
from tests import factories
from tests.conftest import World, assert_no_canary

pytestmark = pytest.mark.django_db


def url(name: str, world: World, **kwargs: Any) -> str:
    return reverse(f"access:{name}", kwargs={"token": world.project.token, **kwargs})


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def admin_client(world: World) -> Client:
    client = Client(REMOTE_ADDR="198.51.100.23")
    client.force_login(world.admin)
    return client


def test_team_page_lists_members_roles_and_toggles(world: World, admin_client: Client) -> None:
    response = admin_client.get(url("team", world))
    html = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert 'data-member="alice"' in html and 'data-member="mark"' in html
    assert "olga" not in html  # another project's member
    assert 'aria-label="Personal data for mark"' in html
    assert "Personal data for alice (given by a role)" in html
    assert_no_canary(html)


def test_personal_data_toggle_applies_on_the_very_next_request(
    world: World, admin_client: Client
) -> None:
    mark_client = Client()
    mark_client.force_login(world.marketer)
    home = reverse("access:project", kwargs={"token": world.project.token})

    def mark_sees_personal_data() -> bool:
        response = mark_client.get(home)
        return bool(response.wsgi_request.principal.can_see_personal_data)  # type: ignore[attr-defined]

    assert not mark_sees_personal_data()
    grant = url("member_grant", world, user_id=world.marketer.pk)
    response = admin_client.post(grant, {"perm": "view_personal_data", "granted": "1"})
    assert response.status_code == 302
    assert mark_sees_personal_data()
    admin_client.post(grant, {"perm": "view_personal_data"})  # unchecked box: off
    assert not mark_sees_personal_data()
    events = AuditEvent.objects.filter(project=world.project, actor_label="alice")
    assert [e.action for e in events.order_by("id")] == ["member.grant", "member.revoke_grant"]
    assert {e.ip for e in events} == {"198.51.100.23"}


def test_grant_refuses_permissions_that_are_not_direct_grants(
    world: World, admin_client: Client
) -> None:
    grant = url("member_grant", world, user_id=world.marketer.pk)
    response = admin_client.post(grant, {"perm": "manage_access", "granted": "1"})
    assert response.status_code == 400
    assert Perm.MANAGE_ACCESS not in principal_for_user(world.marketer, world.project).permissions


def test_invite_existing_user_who_accepts_and_edit_roles(
    world: World, admin_client: Client
) -> None:
    viewer = Role.objects.get(project=world.project, name="Viewer")
    marketer = Role.objects.get(project=world.project, name="Marketer")
    response = admin_client.post(
        url("member_add", world), {"username": "olga", "roles": [viewer.pk]}
    )
    assert response.status_code == 302
    # Not a member until olga says so.
    assert not Membership.objects.filter(project=world.project, user=world.outsider).exists()
    olga = Client()
    olga.force_login(world.outsider)
    page = olga.get(reverse("invitations"))
    assert world.project.name in page.content.decode()
    invitation = page.context["invitations"][0]
    response = olga.post(reverse("invitation_accept", kwargs={"invitation_id": invitation.pk}))
    assert response.status_code == 302
    assert principal_for_user(world.outsider, world.project).permissions == {Perm.VIEW_CUSTOMERS}
    response = admin_client.post(
        url("member_roles", world, user_id=world.outsider.pk), {"roles": [marketer.pk]}
    )
    assert response.status_code == 302
    assert principal_for_user(world.outsider, world.project).permissions == {
        Perm.VIEW_CUSTOMERS,
        Perm.EXPORT_CUSTOMERS,
    }
    response = admin_client.post(url("member_add", world), {"username": "olga"})
    assert response.status_code == 409


def test_invite_by_email_mails_a_link_to_choose_a_password(
    world: World, admin_client: Client
) -> None:
    viewer = Role.objects.get(project=world.project, name="Viewer")
    response = admin_client.post(
        url("member_create", world), {"email": "nina@staff.invalid", "roles": [viewer.pk]}
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["nina@staff.invalid"]
    body = str(message.body)
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", body)
    assert link is not None
    username = re.search(r"your username is (\S+)\.", body)
    assert username is not None
    nina = Client()
    response = nina.get(link.group(1), follow=True)
    assert response.status_code == 200
    new = "orbit-lantern-gravel-42"
    response = nina.post(
        response.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert nina.post(reverse("login"), {"username": username.group(1), "password": new})
    invitation = nina.get(reverse("invitations")).context["invitations"][0]
    nina.post(reverse("invitation_accept", kwargs={"invitation_id": invitation.pk}))
    user = get_user_model().objects.get(username=username.group(1))
    assert principal_for_user(user, world.project).permissions == {Perm.VIEW_CUSTOMERS}
    response = admin_client.post(url("member_create", world), {"email": "nina@staff.invalid"})
    assert response.status_code == 409


def test_last_admin_cannot_be_removed_or_demoted_through_the_page(
    world: World, admin_client: Client
) -> None:
    response = admin_client.post(url("member_remove", world, user_id=world.admin.pk))
    assert response.status_code == 409
    assert "without an admin" in response.content.decode()
    viewer = Role.objects.get(project=world.project, name="Viewer")
    response = admin_client.post(
        url("member_roles", world, user_id=world.admin.pk), {"roles": [viewer.pk]}
    )
    assert response.status_code == 409
    assert Perm.MANAGE_ACCESS in principal_for_user(world.admin, world.project).permissions
    # The page does not offer the button either.
    html = admin_client.get(url("team", world)).content.decode()
    assert 'title="The last admin cannot be removed"' in html


def test_remove_member(world: World, admin_client: Client) -> None:
    response = admin_client.post(url("member_remove", world, user_id=world.marketer.pk))
    assert response.status_code == 302
    assert not Membership.objects.filter(project=world.project, user=world.marketer).exists()
    mark_client = Client()
    mark_client.force_login(world.marketer)
    assert mark_client.get(url("team", world)).status_code == 404


def test_another_projects_objects_answer_404(world: World, admin_client: Client) -> None:
    other_role = Role.objects.get(project=world.other_project, name="Viewer")
    other_key = factories.make_key(world.other_project, "track")
    for path in [
        url("member_remove", world, user_id=world.outsider.pk),
        url("member_grant", world, user_id=world.outsider.pk),
        url("member_roles", world, user_id=world.outsider.pk),
        url("role_delete", world, role_id=other_role.pk),
        url("api_key_revoke", world, api_key_id=other_key.key.pk),
    ]:
        assert admin_client.post(path, {"perm": "view_personal_data"}).status_code == 404, path
    assert admin_client.get(url("role_edit", world, role_id=other_role.pk)).status_code == 404
    assert Role.objects.filter(pk=other_role.pk).exists()
    assert ApiKey.objects.get(pk=other_key.key.pk).revoked_at is None


def test_roles_page_custom_role_crud(world: World, admin_client: Client) -> None:
    response = admin_client.post(
        url("role_create", world),
        {"name": "Support", "permissions": ["view_customers", "anonymize_customers"]},
    )
    assert response.status_code == 302
    role = Role.objects.get(project=world.project, name="Support")
    html = admin_client.get(url("roles", world)).content.decode()
    assert 'data-role="Support"' in html and 'data-role="Admin"' in html
    response = admin_client.post(
        url("role_edit", world, role_id=role.pk),
        {"name": "Support desk", "permissions": ["view_customers"]},
    )
    assert response.status_code == 302
    role.refresh_from_db()
    assert role.name == "Support desk"
    response = admin_client.post(url("role_create", world), {"name": "support desk"})
    assert response.status_code == 409
    assert admin_client.post(url("role_delete", world, role_id=role.pk)).status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()


def test_builtin_roles_are_read_only_on_the_page(world: World, admin_client: Client) -> None:
    admin_role = Role.objects.get(project=world.project, name="Admin")
    page = admin_client.get(url("role_edit", world, role_id=admin_role.pk))
    assert page.status_code == 200
    assert "Built-in roles are read-only" in page.content.decode()
    response = admin_client.post(
        url("role_edit", world, role_id=admin_role.pk), {"name": "Admin", "permissions": []}
    )
    assert response.status_code == 400
    assert admin_client.post(url("role_delete", world, role_id=admin_role.pk)).status_code == 400
    assert Perm.MANAGE_ACCESS in principal_for_user(world.admin, world.project).permissions


def test_api_key_secret_is_shown_once_and_stored_as_a_hash(
    world: World, admin_client: Client
) -> None:
    response = admin_client.post(
        url("api_key_create", world),
        {"name": "Backend", "permissions": ["track", "read_customers"]},
    )
    assert response.status_code == 200
    secret = response.context["new_secret"]
    key = ApiKey.objects.get(project=world.project, name="Backend")
    assert secret in response.content.decode()
    assert key.permission_names == ["track", "read_customers"]
    assert api_key_authenticate(key.key_id, secret) == key
    # Nowhere in the database in clear, and never on the page again.
    for row in ApiKey.objects.values():
        assert secret not in str(row)
    for event in AuditEvent.objects.all():
        assert secret not in str(event.details)
    assert secret not in admin_client.get(url("api_keys", world)).content.decode()
    response = admin_client.post(url("api_key_create", world), {"name": "  "})
    assert response.status_code == 400


def test_revoke_api_key_refuses_it_at_once(world: World, admin_client: Client) -> None:
    creds = world.masked_key
    assert api_key_authenticate(creds.key.key_id, creds.secret) is not None
    response = admin_client.post(url("api_key_revoke", world, api_key_id=creds.key.pk))
    assert response.status_code == 302
    assert api_key_authenticate(creds.key.key_id, creds.secret) is None
    html = admin_client.get(url("api_keys", world)).content.decode()
    assert "revoked" in html


def test_audit_log_filters_paginates_and_exports(world: World, admin_client: Client) -> None:
    actor = principal_for_user(world.admin, world.project, ip="198.51.100.9")
    for n in range(60):
        audit_record(actor=actor, action="test.bulk", target_type="thing", target_id=n)
    AuditEvent.objects.filter(action="test.bulk", target_id="0").update(
        created_at=timezone.now() - timedelta(days=10)
    )
    page = admin_client.get(url("audit", world), {"action": "test.bulk"})
    assert page.status_code == 200
    assert page.context["page_obj"].paginator.count == 60
    assert len(page.context["page_obj"].object_list) == 50
    newest = page.context["page_obj"].object_list[0]
    assert newest.target_id == "59"
    page2 = admin_client.get(url("audit", world), {"action": "test.bulk", "page": "2"})
    assert len(page2.context["page_obj"].object_list) == 10
    old = admin_client.get(
        url("audit", world),
        {"action": "test", "date_to": (timezone.now() - timedelta(days=5)).date().isoformat()},
    )
    assert [e.target_id for e in old.context["page_obj"]] == ["0"]
    by_actor = admin_client.get(url("audit", world), {"actor": "tests"})
    assert {e.actor_label for e in by_actor.context["page_obj"]} == {"tests"}
    bad = admin_client.get(url("audit", world), {"date_from": "yesterday"})
    assert bad.status_code == 400

    response = admin_client.get(url("audit_csv", world), {"action": "test.bulk"})
    assert response.status_code == 200
    assert response.streaming
    text = streamed(response).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["time", "actor", "action"]
    assert len(rows) == 61
    assert rows[1][4] == "59" and rows[1][5] == "198.51.100.9"


def test_audit_never_holds_pii(world: World, admin_client: Client) -> None:
    """The world fixture tracked canary customers and flagged PII: none of it is audited."""
    admin_client.post(url("member_create", world), {"email": "x@staff.invalid"})
    html = admin_client.get(url("audit", world)).content.decode()
    csv_text = streamed(admin_client.get(url("audit_csv", world))).decode()
    assert "member.add" in csv_text and "pii" in csv_text.lower()
    assert_no_canary(html)
    assert_no_canary(csv_text)


def test_audit_csv_neutralises_formulas(world: World, admin_client: Client) -> None:
    actor = principal_for_user(world.admin, world.project)
    audit_record(actor=actor, action="test.formula", details={"name": "=HYPERLINK(1)"})
    text = streamed(admin_client.get(url("audit_csv", world), {"action": "test.formula"})).decode()
    row = list(csv.reader(io.StringIO(text)))[1]
    assert all(not cell.startswith("=") for cell in row)


def test_settings_navigation_only_for_admins(world: World, admin_client: Client) -> None:
    team = url("team", world)
    admin_home = admin_client.get(url("api_keys", world)).content.decode()
    assert f'href="{team}"' in admin_home
    mark_client = Client()
    mark_client.force_login(world.marketer)
    response = mark_client.get(reverse("access:project", kwargs={"token": world.project.token}))
    page = response
    if response.status_code == 302:
        page = mark_client.get(response["Location"])
    assert f'href="{team}"' not in page.content.decode()
    assert mark_client.get(team).status_code == 403
