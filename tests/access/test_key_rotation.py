"""API key rotation with a grace period (issue 15; Exponea's reference/rotate-api-secret-2).

The old secret keeps working until the grace period ends, at most two secrets exist, the
grace can be ended early, revocation ends both; the page and the Authorization API do the
same through one service, audited; another project's key is a 404.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.errors import Conflict, InvalidInput, NotFound
from access.models import ApiKey, AuditEvent
from access.selectors import api_key_authenticate
from access.services import api_key_create, api_key_end_grace, api_key_revoke, api_key_rotate
from tests import factories

pytestmark = pytest.mark.django_db


def _basic(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def _expire_grace(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk).update(
        previous_secret_valid_until=timezone.now() - dt.timedelta(seconds=1)
    )


def test_the_old_secret_works_for_the_grace_period_then_stops() -> None:
    project = factories.make_project()
    creds = factories.make_key(project, "track")
    new = api_key_rotate(actor=factories.system(project), api_key=creds.key)
    key = ApiKey.objects.get(pk=creds.key.pk)
    left = key.previous_secret_valid_until - timezone.now()  # type: ignore[operator]
    assert dt.timedelta(hours=23, minutes=59) < left <= dt.timedelta(hours=24)
    old_auth = api_key_authenticate(key.key_id, creds.secret)
    assert old_auth is not None and old_auth.used_previous_secret  # type: ignore[attr-defined]
    new_auth = api_key_authenticate(key.key_id, new)
    assert new_auth is not None and not new_auth.used_previous_secret  # type: ignore[attr-defined]
    _expire_grace(key)
    assert api_key_authenticate(key.key_id, creds.secret) is None
    assert api_key_authenticate(key.key_id, new) is not None
    event = AuditEvent.objects.get(action="api_key.rotate", target_id=str(key.pk))
    assert event.details["grace_seconds"] == 24 * 3600
    assert creds.secret not in str(event.details) and new not in str(event.details)


def test_a_key_has_at_most_two_secrets() -> None:
    project = factories.make_project()
    creds = factories.make_key(project, "track")
    system = factories.system(project)
    second = api_key_rotate(actor=system, api_key=creds.key)
    third = api_key_rotate(actor=system, api_key=creds.key)
    kid = creds.key.key_id
    assert api_key_authenticate(kid, creds.secret) is None  # dropped at the second rotation
    assert api_key_authenticate(kid, second) is not None  # in its grace period
    assert api_key_authenticate(kid, third) is not None


def test_ending_the_grace_and_revoking_stop_the_old_secret_at_once() -> None:
    project = factories.make_project()
    system = factories.system(project)
    creds = factories.make_key(project, "track")
    new = api_key_rotate(actor=system, api_key=creds.key)
    api_key_end_grace(actor=system, api_key=creds.key)
    assert api_key_authenticate(creds.key.key_id, creds.secret) is None
    assert api_key_authenticate(creds.key.key_id, new) is not None
    assert AuditEvent.objects.filter(action="api_key.end_grace").count() == 1

    other = factories.make_key(project, "track", name="Other")
    newer = api_key_rotate(actor=system, api_key=other.key)
    api_key_revoke(actor=system, api_key=other.key)
    assert api_key_authenticate(other.key.key_id, other.secret) is None
    assert api_key_authenticate(other.key.key_id, newer) is None


def test_rotation_refuses_bad_input_and_other_projects_keys() -> None:
    project = factories.make_project()
    other = factories.make_project("Other")
    creds = factories.make_key(other, "track")
    with pytest.raises(NotFound):
        api_key_rotate(actor=factories.system(project), api_key=creds.key)
    with pytest.raises(NotFound):
        api_key_end_grace(actor=factories.system(project), api_key=creds.key)
    mine = factories.make_key(project, "track")
    with pytest.raises(InvalidInput):
        api_key_rotate(
            actor=factories.system(project), api_key=mine.key, grace=dt.timedelta(days=30)
        )
    public, _ = api_key_create(
        actor=factories.system(project), name="Web", permissions=["track"], kind="public"
    )
    with pytest.raises(InvalidInput):
        api_key_rotate(actor=factories.system(project), api_key=public)
    assert ApiKey.objects.get(pk=mine.key.pk).secret_hash == mine.key.secret_hash


# The page -----------------------------------------------------------------------------------


def _admin_client(project: Any) -> Client:
    admin = factories.make_member(project, "alice", roles=("Admin",))
    client = Client()
    client.force_login(admin)
    return client


def test_the_page_rotates_shows_the_new_secret_once_and_the_grace_end() -> None:
    project = factories.make_project()
    creds = factories.make_key(project, "track", name="Backend")
    client = _admin_client(project)
    url = reverse(
        "access:api_key_rotate", kwargs={"token": project.token, "api_key_id": creds.key.pk}
    )
    response = client.post(url, {"grace_hours": "24"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "has a new secret" in body and "old secret keeps working until" in body
    page = client.get(reverse("access:api_keys", kwargs={"token": project.token})).content.decode()
    assert 'data-testid="grace"' in page and "old secret until" in page
    assert "End grace" in page
    end = reverse(
        "access:api_key_end_grace", kwargs={"token": project.token, "api_key_id": creds.key.pk}
    )
    assert client.post(end).status_code == 302
    page = client.get(reverse("access:api_keys", kwargs={"token": project.token})).content.decode()
    assert 'data-testid="grace"' not in page


def test_the_page_without_grace_and_with_a_bad_grace() -> None:
    project = factories.make_project()
    creds = factories.make_key(project, "track")
    client = _admin_client(project)
    url = reverse(
        "access:api_key_rotate", kwargs={"token": project.token, "api_key_id": creds.key.pk}
    )
    assert client.post(url, {"grace_hours": "999"}).status_code == 400
    assert api_key_authenticate(creds.key.key_id, creds.secret) is not None  # nothing changed
    assert client.post(url, {"grace_hours": "0"}).status_code == 200
    assert api_key_authenticate(creds.key.key_id, creds.secret) is None


def test_the_page_answers_404_for_another_projects_key() -> None:
    project = factories.make_project()
    other = factories.make_project("Other")
    foreign = factories.make_key(other, "track")
    client = _admin_client(project)
    for name in ("api_key_rotate", "api_key_end_grace", "api_key_revoke"):
        url = reverse(
            f"access:{name}", kwargs={"token": project.token, "api_key_id": foreign.key.pk}
        )
        assert client.post(url, {"grace_hours": "24"}).status_code == 404
    assert api_key_authenticate(foreign.key.key_id, foreign.secret) is not None


# The Authorization API ----------------------------------------------------------------------


def _api(project: Any, path: str, auth: str) -> Any:
    return Client().post(
        f"/data/v2/projects/{project.token}/access-keys/{path}",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )


def test_the_authorization_api_rotates_the_key_making_the_request() -> None:
    project = factories.make_project()
    creds = factories.make_key(project, "track")
    response = _api(project, "rotate", creds.basic)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["key_id"] == creds.key.key_id
    new = body["secret"]
    assert body["previous_secret_valid_until"] > timezone.now().timestamp() + 23 * 3600
    assert response["Cache-Control"] == "private, no-store"
    # Rotating again with the old secret: Exponea's "rotating the old key twice" error.
    again = _api(project, "rotate", creds.basic)
    assert again.status_code == 409
    assert again.json() == {
        "success": False,
        "errors": ["This secret was already rotated; rotate with the new secret."],
    }
    assert api_key_authenticate(creds.key.key_id, new) is not None
    # Revoke with a secret in its grace period pending: the old secret goes, the key stays.
    revoked = _api(project, "revoke", _basic(creds.key.key_id, new))
    assert revoked.json() == {"success": True, "revoked": "previous_secret"}
    assert api_key_authenticate(creds.key.key_id, creds.secret) is None
    assert api_key_authenticate(creds.key.key_id, new) is not None
    # With none pending, revoke ends the key.
    assert _api(project, "revoke", _basic(creds.key.key_id, new)).json() == {
        "success": True,
        "revoked": "key",
    }
    assert api_key_authenticate(creds.key.key_id, new) is None
    actions = list(
        AuditEvent.objects.filter(target_type="api_key", target_id=str(creds.key.pk))
        .order_by("id")
        .values_list("action", "actor_label")
    )
    assert [a for a, _ in actions] == [
        "api_key.create",
        "api_key.rotate",
        "api_key.end_grace",
        "api_key.revoke",
    ]
    assert all(label.startswith("API key") for _a, label in actions[1:])


def test_the_authorization_api_errors() -> None:
    project = factories.make_project()
    other = factories.make_project("Other")
    creds = factories.make_key(project, "track")
    missing = Client().post(f"/data/v2/projects/{project.token}/access-keys/rotate")
    assert missing.status_code == 401
    assert missing.json() == {"success": False, "error": "Access key not provided"}
    wrong = _api(project, "rotate", _basic(creds.key.key_id, "wrong"))
    assert wrong.status_code == 401
    foreign = _api(other, "rotate", creds.basic)
    assert foreign.status_code == 404
    assert foreign.json() == {"success": False, "errors": ["Project not found."]}
    public, _ = api_key_create(
        actor=factories.system(project), name="Web", permissions=["track"], kind="public"
    )
    for path in ("rotate", "revoke"):
        refused = _api(project, path, f"Token {public.key_id}")
        assert refused.status_code == 403
        assert refused.json() == {"success": False, "errors": ["A public key may only track."]}
    assert ApiKey.objects.get(pk=public.pk).revoked_at is None
    assert api_key_authenticate(creds.key.key_id, creds.secret) is not None


def test_a_conflict_when_rotating_with_the_old_secret_changes_nothing() -> None:
    project = factories.make_project()
    creds = factories.make_key(project, "track")
    system = factories.system(project)
    api_key_rotate(actor=system, api_key=creds.key)
    before = ApiKey.objects.get(pk=creds.key.pk)
    with pytest.raises(Conflict):
        api_key_rotate(actor=system, api_key=creds.key, with_previous_secret=True)
    after = ApiKey.objects.get(pk=creds.key.pk)
    assert (after.secret_hash, after.previous_secret_hash) == (
        before.secret_hash,
        before.previous_secret_hash,
    )
