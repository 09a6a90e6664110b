"""``POST /data/v2/projects/{token}/data-manager/ids`` (issue 15 item 1): add a project ID.

201 ``{"success": true, "id": {...}}`` with ``manage_data``, one audit event; a taken or
invalid name, an unknown key or a wrong type is a 400 in the API's error shape naming it,
with nothing written; a key without ``manage_data`` 403, another project's token 404. The
ID is usable in ``customer_ids`` on the very next call.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.models import AuditEvent
from datamanager.ids import CustomerIdInvalid, customer_id_create
from datamanager.models import AttributeKind, CustomerAttribute
from tests import factories
from tests.conftest import World

from .conftest import ApiClient

BODY = {"name": "crm_id", "hard": True, "pii": True, "description": "CRM customer number"}


def _ids(world: World) -> dict[str, tuple[bool, bool]]:
    return {
        a.name: (a.hard, a.pii)
        for a in CustomerAttribute.objects.filter(project=world.project, kind=AttributeKind.ID)
    }


def _errors(response: Any, status: int) -> list[str]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and isinstance(body["errors"], list), body
    return list(body["errors"])


def test_add_an_id_answers_201_with_the_id_and_audits_it(world: World, full: ApiClient) -> None:
    response = full.post("data-manager/ids", BODY)
    assert response.status_code == 201, response.content
    assert response.json() == {
        "success": True,
        "id": {
            "name": "crm_id",
            "kind": "id",
            "hard": True,
            "type": "string",
            "description": "CRM customer number",
            "pii": True,
            "tracked": False,
        },
    }
    assert _ids(world)["crm_id"] == (True, True)
    event = AuditEvent.objects.get(project=world.project, action="datamanager.id_create")
    assert event.details == {"attribute": "crm_id", "hard": True, "pii": True}
    assert event.actor_api_key_id == world.full_key.key.pk
    # Listed by the catalog API and accepted by tracking at once.
    catalog = full.client.get(
        full.url("data-manager/catalog"), HTTP_AUTHORIZATION=world.full_key.basic
    ).json()
    listed = [a for a in catalog["customer_attributes"] if a["name"] == "crm_id"]
    assert listed == [
        {
            "name": "crm_id",
            "kind": "id",
            "hard": True,
            "type": "string",
            "description": "CRM customer number",
            "pii": True,
            "tracked": False,
        }
    ]
    tracked = full.track("customers", {"customer_ids": {"crm_id": "c-1"}, "properties": {}})
    assert tracked.status_code == 200, tracked.content


def test_hard_and_pii_default_to_true_and_a_soft_non_pii_id_can_be_asked_for(
    world: World, full: ApiClient
) -> None:
    assert full.post("data-manager/ids", {"name": "email_id"}).status_code == 201
    response = full.post("data-manager/ids", {"name": "device_id", "hard": False, "pii": False})
    assert response.status_code == 201
    assert response.json()["id"]["hard"] is False and response.json()["id"]["pii"] is False
    assert _ids(world)["email_id"] == (True, True)
    assert _ids(world)["device_id"] == (False, False)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "registered"}, "customer ID named 'registered' already exists"),
        ({"name": "email"}, "customer property named 'email' already exists"),
        ({"name": "internal_id"}, "ID name 'internal_id' is reserved"),
        ({"name": "CRM id"}, "ID name 'CRM id' is invalid"),
        ({"name": "9lives"}, "ID name '9lives' is invalid"),
        ({"name": "crm.id"}, "ID name 'crm.id' is invalid"),
        ({"name": "é_id"}, "ID name 'é_id' is invalid"),
        ({"name": "x" * 65}, "is invalid"),
        ({"name": ""}, "The ID name must be a non-empty string."),
        ({"name": 7}, "The ID name must be a non-empty string."),
        ({}, "name is required."),
        ({"name": "crm_id", "hard": "yes"}, "hard must be true"),
        ({"name": "crm_id", "pii": 1}, "pii must be true or false."),
        ({"name": "crm_id", "description": "d" * 501}, "longer than 500 characters"),
        ({"name": "crm_id", "kind": "id"}, "Unknown field 'kind'"),
    ],
)
def test_a_bad_or_taken_name_is_a_400_naming_it_and_writes_nothing(
    world: World, full: ApiClient, body: dict[str, Any], named: str
) -> None:
    before = _ids(world)
    audits = AuditEvent.objects.filter(project=world.project).count()
    errors = _errors(full.post("data-manager/ids", body), 400)
    assert any(named in e for e in errors), errors
    assert _ids(world) == before
    assert AuditEvent.objects.filter(project=world.project).count() == audits


def test_the_body_must_be_an_object(world: World, full: ApiClient) -> None:
    assert _errors(full.post("data-manager/ids", ["crm_id"]), 400) == [
        "The body must be a JSON object."
    ]
    assert _errors(full.post("data-manager/ids", None, raw=b"{nope"), 400) == [
        "Malformed JSON body."
    ]


def test_a_second_add_of_the_same_name_is_a_400(world: World, full: ApiClient) -> None:
    assert full.post("data-manager/ids", BODY).status_code == 201
    errors = _errors(full.post("data-manager/ids", {**BODY, "hard": False}), 400)
    assert errors == ["A customer ID named 'crm_id' already exists."]
    assert _ids(world)["crm_id"] == (True, True)


def test_needs_manage_data_and_answers_404_for_another_project(
    world: World, masked: ApiClient, api_for: Any
) -> None:
    errors = _errors(masked.post("data-manager/ids", BODY), 403)
    assert errors == ["This API key lacks the 'manage_data' permission."]
    other_full = factories.make_key(world.other_project, "manage_data", name="Other")
    foreign = api_for(other_full, token=str(world.project.token))
    assert _errors(foreign.post("data-manager/ids", BODY), 404) == ["Project not found."]
    assert "crm_id" not in _ids(world)
    anonymous = api_for(None)
    response = anonymous.post("data-manager/ids", BODY)
    assert response.status_code == 401 and response.json()["success"] is False


def test_the_schema_documents_the_endpoint(world: World) -> None:
    from django.test import Client

    doc = Client().get("/api/schema/?format=json").json()
    operation = doc["paths"]["/data/v2/projects/{token}/data-manager/ids"]["post"]
    assert {"201", "400", "401", "403", "404"} <= set(operation["responses"])
    assert "requestBody" in operation


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=80))
def test_any_name_is_created_or_refused_in_the_error_shape_never_a_500(
    world: World, name: str
) -> None:
    """Hostile names (Unicode, quotes, NUL, dots, ``$``): a 201 exactly for a valid new name,
    else a 400 in the error shape; the catalog then holds the name exactly as sent."""
    actor = factories.system(world.project)
    valid = re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name) is not None and name != "internal_id"
    # (Only a valid name is looked up here: PostgreSQL refuses a NUL in a query parameter,
    # which is why the service checks the name before it reads the catalog.)
    taken = valid and CustomerAttribute.objects.filter(project=world.project, name=name).exists()
    try:
        attr = customer_id_create(actor=actor, name=name, hard=True)
    except CustomerIdInvalid as exc:
        assert not valid or taken, (name, exc.errors)
        assert exc.status_code == 400 and exc.errors
        return
    assert valid and not taken
    assert CustomerAttribute.objects.get(pk=attr.pk).name == name
