"""The Data manager API: read with read_customers, change with manage_data, Exponea shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from access.models import AuditEvent
from datamanager.models import CustomerAttribute, EventAttribute, EventType
from tests import factories
from tests.conftest import CANARIES, World, assert_no_canary


def _url(world: World, query: str = "") -> str:
    return f"/data/v2/projects/{world.project.token}/data-manager/catalog{query}"


def _patch(world: World, body: Any, auth: str) -> Any:
    return Client().patch(
        _url(world), json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth
    )


def _get(world: World, auth: str, query: str = "") -> Any:
    return Client().get(_url(world, query), HTTP_AUTHORIZATION=auth)


def test_read_the_catalog(world: World) -> None:
    response = _get(world, world.masked_key.basic)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    by_name = {a["name"]: a for a in body["customer_attributes"]}
    assert by_name["registered"] == {
        "name": "registered",
        "kind": "id",
        "hard": True,
        "type": "string",
        "description": by_name["registered"]["description"],
        "pii": True,
        "tracked": True,
    }
    assert by_name["city"]["pii"] is False
    purchase = next(t for t in body["event_types"] if t["name"] == "purchase")
    assert {a["name"]: a["pii"] for a in purchase["attributes"]} == {
        "items": False,
        "shipping_address": True,
        "total": False,
    }
    assert response["Cache-Control"] == "private, no-store"


def test_values_and_suggestions_never_leak_to_a_key_without_personal_data(world: World) -> None:
    masked = _get(world, world.masked_key.basic, "?include=values,suggestions")
    text = masked.content.decode()
    assert_no_canary(text)
    body = masked.json()
    by_name = {a["name"]: a for a in body["customer_attributes"]}
    assert by_name["email"]["values"] == {"personal_data": True}
    assert by_name["registered"]["values"] == {"personal_data": True}
    assert by_name["city"]["values"]["values"] == [{"value": "Bratislava", "count": 1}]
    visit = next(t for t in body["event_types"] if t["name"] == "page_visit")
    assert {a["name"]: a["values"] for a in visit["attributes"]}["ip"] == {"personal_data": True}
    # The same request with Personal data does see them: the test above can fail.
    full = _get(world, world.full_key.basic, "?include=values").content.decode()
    assert all(c in full for c in CANARIES)


def test_suggestions_in_the_api(world: World) -> None:
    factories.track_customer(
        world.project, {"registered": "s@example.test"}, {"mobile": "+421 911 222 333"}
    )
    body = _get(world, world.masked_key.basic, "?include=suggestions").json()
    by_name = {a["name"]: a for a in body["customer_attributes"]}
    assert by_name["mobile"]["suggested"]
    assert by_name["city"]["suggested"] is None and by_name["plan"]["suggested"] is None
    assert by_name["email"]["suggested"] is None  # already flagged


def test_change_flags_types_descriptions(world: World) -> None:
    body = {
        "customer_attributes": [
            {"name": "city", "pii": True, "description": "Town"},
            {"name": "plan", "type": "longtext"},
        ],
        "event_types": [
            {
                "name": "purchase",
                "description": "Paid order",
                "attributes": [{"name": "items", "pii": True}],
            }
        ],
    }
    response = _patch(world, body, world.full_key.basic)
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["success"] is True and out["changed"] == 5
    assert {"target": "event_attribute", "name": "items", "event_type": "purchase",
            "field": "pii", "old": False, "new": True} in out["changes"]  # fmt: skip
    city = CustomerAttribute.objects.get(project=world.project, name="city")
    assert city.pii and city.description == "Town"
    assert EventType.objects.get(project=world.project, name="purchase").description == (
        "Paid order"
    )
    audit = AuditEvent.objects.filter(action="datamanager.pii_flag").order_by("-id")[:2]
    assert all(e.actor_api_key_id == world.full_key.key.pk for e in audit)


def test_without_manage_data_the_patch_is_refused(world: World) -> None:
    body = {"customer_attributes": [{"name": "city", "pii": True}]}
    response = _patch(world, body, world.masked_key.basic)
    assert response.status_code == 403
    assert response.json()["success"] is False
    assert "manage_data" in response.json()["errors"][0]
    assert CustomerAttribute.objects.get(project=world.project, name="city").pii is False


def test_manage_data_key_without_read_customers_may_change_but_not_read(world: World) -> None:
    key = factories.make_key(world.project, "manage_data", name="Catalog only")
    assert _get(world, key.basic).status_code == 403
    response = _patch(world, {"customer_attributes": [{"name": "city", "pii": True}]}, key.basic)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"customer_attributes": [{"name": "nope", "pii": True}]}, 404),
        ({"event_types": [{"name": "purchase", "attributes": [{"name": "x", "pii": True}]}]}, 404),
        ({"event_types": [{"name": "nope", "description": "x"}]}, 404),
        (
            {"customer_attributes": [{"name": "city", "pii": True}, {"name": "plan", "type": "x"}]},
            400,
        ),
        ({"customer_attributes": [{"name": "city", "pii": "maybe"}]}, 400),
        ({"customer_attributes": "city"}, 400),
        ({}, 400),
    ],
)
def test_bad_input_changes_nothing(world: World, body: Any, status: int) -> None:
    response = _patch(world, body, world.full_key.basic)
    assert response.status_code == status, response.content
    assert response.json()["success"] is False and response.json()["errors"]
    assert not CustomerAttribute.objects.filter(
        project=world.project, name="city", pii=True
    ).exists()
    assert not EventAttribute.objects.filter(event_type__project=world.project, name="x").exists()


def test_unflag_needs_confirm_unflag(world: World) -> None:
    body: dict[str, Any] = {"customer_attributes": [{"name": "phone", "pii": False}]}
    response = _patch(world, body, world.full_key.basic)
    assert response.status_code == 400
    assert "confirm_unflag" in response.json()["errors"][0]
    assert CustomerAttribute.objects.get(project=world.project, name="phone").pii is True
    body["confirm_unflag"] = True
    assert _patch(world, body, world.full_key.basic).status_code == 200
    assert CustomerAttribute.objects.get(project=world.project, name="phone").pii is False


def test_another_project_and_bad_credentials(world: World) -> None:
    other_key = factories.make_key(world.other_project, "read_customers", "manage_data")
    # A key of another project is answered as for an unknown project (no existence oracle).
    assert _get(world, other_key.basic).status_code in (401, 404)
    assert Client().get(_url(world)).status_code == 401
    body = {"customer_attributes": [{"name": "city", "pii": True}]}
    assert _patch(world, body, other_key.basic).status_code in (401, 404)
    assert CustomerAttribute.objects.get(project=world.project, name="city").pii is False
