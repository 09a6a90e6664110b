"""API keys at the door: revoked and foreign keys refused, secrets hashed, constant-time check.

Uses a probe endpoint built on ProjectAPIView (the base every API view uses), so these tests
do not depend on any particular endpoint existing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from access.api.base import ProjectAPIView
from access.models import ApiKey
from access.permissions import Perm
from access.selectors import api_key_authenticate, hash_secret
from access.services import api_key_revoke
from tests import factories
from tests.conftest import World

pytestmark = pytest.mark.django_db


class Probe(ProjectAPIView):
    required_permission = Perm.VIEW_CUSTOMERS

    def get(self, request: Request, token: str) -> Response:
        return Response({"success": True, "personal_data": self.principal.can_see_personal_data})


def call(token: Any, authorization: str | None) -> Any:
    request = APIRequestFactory().get(f"/probe/{token}/")
    if authorization:
        request.META["HTTP_AUTHORIZATION"] = authorization
    response = Probe.as_view()(request, token=str(token))
    response.render()
    return response.status_code, json.loads(response.content)


def test_an_active_key_of_the_project_is_accepted(world: World) -> None:
    assert call(world.project.token, world.full_key.basic) == (
        200,
        {"success": True, "personal_data": True},
    )
    assert call(world.project.token, world.masked_key.basic) == (
        200,
        {"success": True, "personal_data": False},
    )
    key = ApiKey.objects.get(pk=world.full_key.key.pk)
    assert key.last_used_at is not None


def test_a_revoked_key_is_refused(world: World) -> None:
    api_key_revoke(actor=factories.system(world.project), api_key=world.full_key.key)
    status, body = call(world.project.token, world.full_key.basic)
    assert status == 401
    assert body["success"] is False and "error" in body


def test_a_key_of_another_project_is_refused_like_an_unknown_project(world: World) -> None:
    foreign = factories.make_key(world.other_project, "read_customers", "view_personal_data")
    status, body = call(world.project.token, foreign.basic)
    unknown_status, unknown_body = call(
        "00000000-0000-0000-0000-000000000000", world.full_key.basic
    )
    assert status == 404 and body["success"] is False
    assert (status, body) == (unknown_status, unknown_body)


def test_wrong_secret_missing_or_malformed_credentials_are_401(world: World) -> None:
    raw = f"{world.full_key.key.key_id}:not-the-secret".encode()
    for header in [
        None,
        "Basic " + base64.b64encode(raw).decode(),
        "Basic !!!",
        "Bearer abc",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ]:
        status, body = call(world.project.token, header)
        assert status == 401, header
        assert body["success"] is False and "error" in body


def test_a_key_without_the_permission_is_403(world: World) -> None:
    tracker = factories.make_key(world.project, "track")
    status, body = call(world.project.token, tracker.basic)
    assert status == 403
    assert body == {
        "success": False,
        "errors": ["This API key lacks the 'read_customers' permission."],
    }


def test_secrets_are_never_stored_in_clear(world: World) -> None:
    creds = world.full_key
    row = ApiKey.objects.filter(pk=creds.key.pk).values().get()
    assert creds.secret not in json.dumps(row, default=str)
    assert row["secret_hash"] == hash_secret(creds.secret)
    assert api_key_authenticate(creds.key.key_id, creds.secret) is not None
    assert api_key_authenticate(creds.key.key_id, creds.secret + "x") is None
    assert api_key_authenticate("unknown", creds.secret) is None
