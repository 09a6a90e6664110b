"""The API key lookup (one statement, no cache): what it builds and that it is never stale.

On PostgreSQL the key and its project are built from one fixed statement rather than the
ORM's queryset (issue 14, /batch CPU); these tests pin that the instances are the ORM's,
and that a revoke, a permission change or the end of a grace period applies on the very
next request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from access.api.base import ProjectAPIView
from access.models import ApiKey, Project
from access.permissions import Perm
from access.selectors import api_key_authenticate, public_key_authenticate
from access.services import api_key_create, api_key_revoke
from tests import factories
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_the_key_and_its_project_are_the_orms_in_one_query(world: World) -> None:
    creds = world.full_key
    with CaptureQueriesContext(connection) as ctx:
        key = api_key_authenticate(creds.key.key_id, creds.secret)
        assert key is not None
        project = key.project  # loaded with the key
    assert len(ctx.captured_queries) == 1
    orm = ApiKey.objects.get(pk=creds.key.pk)
    assert _fields(key) == _fields(orm)
    assert _fields(project) == _fields(Project.objects.get(pk=world.project.pk))
    assert isinstance(project.token, type(world.project.token))
    assert key._state.adding is False and key._state.db == "default"


def test_the_public_key_lookup_answers_public_keys_only(world: World) -> None:
    key, _ = api_key_create(
        actor=factories.system(world.project), name="Web", permissions=["track"], kind="public"
    )
    found = public_key_authenticate(key.key_id)
    assert found is not None and _fields(found) == _fields(ApiKey.objects.get(pk=key.pk))
    assert public_key_authenticate(world.full_key.key.key_id) is None  # a private key's id
    assert api_key_authenticate(key.key_id, "") is None  # a public key has no secret
    api_key_revoke(actor=factories.system(world.project), api_key=key)
    assert public_key_authenticate(key.key_id) is None


class Probe(ProjectAPIView):
    required_permission = Perm.TRACK

    def get(self, request: Request, token: str) -> Response:
        return Response({"success": True})


def call(world: World, creds: factories.KeyCredentials) -> int:
    request = APIRequestFactory().get(f"/probe/{world.project.token}/")
    request.META["HTTP_AUTHORIZATION"] = creds.basic
    response = Probe.as_view()(request, token=str(world.project.token))
    response.render()
    json.loads(response.content)
    return int(response.status_code)


def test_a_revoke_or_a_permission_change_applies_on_the_next_request(world: World) -> None:
    creds = factories.make_key(world.project, "track")
    assert call(world, creds) == 200
    ApiKey.objects.filter(pk=creds.key.pk).update(can_track=False)
    assert call(world, creds) == 403
    ApiKey.objects.filter(pk=creds.key.pk).update(can_track=True)
    assert call(world, creds) == 200
    api_key_revoke(actor=factories.system(world.project), api_key=creds.key)
    assert call(world, creds) == 401
