"""The personal-data export of one customer (issue 17, item 1), from the profile and the API.

What an allowed principal receives holds everything listed (IDs, typed properties with PII
flags, events, consents, access history, anonymization state) and no other customer's data;
a principal without Personal data (or without export_customers) is refused and receives no
value; each export is audited and an access-log entry; events stream in keyset chunks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from accountability.models import PersonalDataAccess
from consents.services import consent_category_create
from customers.services import anonymization, personal_data_export
from tests import factories
from tests.conftest import (
    CANARIES,
    CANARY_ADDRESS,
    CANARY_EMAIL,
    CANARY_IP,
    CANARY_NAME,
    World,
    assert_no_canary,
)

pytestmark = pytest.mark.django_db

OTHER_EMAIL = "someone.else.44@other.test"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def _urls(world: World, pk: int | None = None) -> tuple[str, str]:
    kwargs = {"token": world.project.token, "pk": pk or world.customer.pk}
    return (
        reverse("customers:personal_data", kwargs=kwargs),
        reverse("customers:personal_data_json", kwargs=kwargs),
    )


def _api_url(world: World) -> str:
    return f"/data/v2/projects/{world.project.token}/customers/personal-data-export"


def _other_customer(world: World) -> Any:
    return factories.track_customer(
        world.project,
        {"registered": OTHER_EMAIL},
        {"email": OTHER_EMAIL, "city": "Košice"},
        [("purchase", {"total": 7, "shipping_address": "1 Other Street"})],
    )


def test_json_download_holds_everything_about_the_customer_and_nothing_else(
    world: World,
) -> None:
    _other_customer(world)
    consent_category_create(actor=factories.system(world.project), name="newsletter")
    factories.track_customer(
        world.project,
        {"registered": CANARY_EMAIL},
        events=[("consent", {"category": "newsletter", "action": "accept", "valid_until": None})],
    )
    _, json_url = _urls(world)
    response = _client(world.admin).get(json_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    text = _body(response)
    document = json.loads(text)
    assert OTHER_EMAIL not in text and "1 Other Street" not in text

    assert document["customer"]["internal_id"] == world.customer.pk
    ids = {i["name"]: i for i in document["ids"]}
    assert ids["registered"]["values"] == [CANARY_EMAIL]
    assert ids["registered"]["hard"] is True and ids["registered"]["pii"] is True
    assert ids["cookie"]["values"] == ["ck-canary-1"] and ids["cookie"]["hard"] is False

    properties = {p["name"]: p for p in document["properties"]}
    assert properties["email"]["value"] == CANARY_EMAIL and properties["email"]["pii"] is True
    assert properties["city"]["value"] == "Bratislava" and properties["city"]["pii"] is False
    assert properties["first_name"]["value"] == CANARY_NAME
    assert all(p["type"] for p in document["properties"])

    events = document["events"]
    # Oldest first; the consent was tracked at the page visit's second, after it.
    assert [e["type"] for e in events] == ["page_visit", "consent", "purchase"]
    assert document["event_count"] == 3
    assert events[0]["properties"]["ip"] == CANARY_IP
    assert events[2]["properties"]["shipping_address"] == CANARY_ADDRESS
    assert events[2]["properties"]["total"] == 42.5

    # Exponea: an accept without valid_until is not a valid consent.
    assert document["consents"]["state"] == [
        {
            "category": "newsletter",
            "granted": False,
            "legitimate_interest": False,
            "since": document["consents"]["history"][0]["time"],
            "valid_until": None,
        }
    ]
    assert document["consents"]["history"][0]["action"] == "accept"
    assert document["anonymization"] == {
        "anonymized": False,
        "anonymized_at": None,
        "legal_hold": None,
        "receipts": [],
    }
    assert document["access_history"]["included"] is True


def test_page_shows_the_same_document_readably(world: World) -> None:
    page_url, json_url = _urls(world)
    response = _client(world.admin).get(page_url)
    assert response.status_code == 200
    html = _body(response)
    for canary in CANARIES:
        assert canary in html
    assert json_url in html and "Download JSON" in html
    assert "page_visit" in html and "purchase" in html
    assert "no-store" in response["Cache-Control"]


def test_profile_offers_the_export_only_to_who_may_use_it(world: World) -> None:
    profile = reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )
    page_url, _ = _urls(world)
    assert page_url in _client(world.admin).get(profile).content.decode()
    assert page_url not in _client(world.marketer).get(profile).content.decode()


@pytest.mark.parametrize("which", ["page", "json"])
def test_refused_without_personal_data_and_nothing_is_recorded(world: World, which: str) -> None:
    page_url, json_url = _urls(world)
    audit_before = AuditEvent.objects.count()
    response = _client(world.marketer).get(page_url if which == "page" else json_url)
    assert response.status_code == 403
    text = _body(response)
    assert_no_canary(text)
    assert "view_personal_data" in text or "export_customers" in text
    assert AuditEvent.objects.count() == audit_before
    assert not PersonalDataAccess.objects.filter(view__contains="personal-data").exists()


def test_refused_without_export_permission(world: World) -> None:
    viewer = factories.make_member(world.project, "vera", roles=("Viewer",), personal_data=True)
    page_url, _ = _urls(world)
    response = _client(viewer).get(page_url)
    assert response.status_code == 403
    assert_no_canary(_body(response))


def test_other_projects_customer_is_404(world: World) -> None:
    page_url, _ = _urls(world)
    outsider = _client(world.outsider)
    assert outsider.get(page_url).status_code == 404
    other_admin_url = reverse(
        "customers:personal_data_json",
        kwargs={"token": world.other_project.token, "pk": world.customer.pk},
    )
    assert outsider.get(other_admin_url).status_code == 404


def test_each_export_is_audited_and_an_access_log_entry(world: World) -> None:
    _, json_url = _urls(world)
    _body(_client(world.admin).get(json_url))
    audit = AuditEvent.objects.filter(action="customer.personal_data_export").get()
    assert audit.target_id == str(world.customer.pk) or audit.target_id == world.customer.pk
    assert audit.details["events"] == 2
    assert_no_canary(json.dumps(audit.details))
    entry = PersonalDataAccess.objects.get(view="customers.personal-data-export")
    assert entry.channel == "export" and entry.customer_ids == [world.customer.pk]
    assert {"email", "registered", "purchase.shipping_address", "page_visit.ip"} <= set(
        entry.attribute_names
    )


def test_api_export_with_a_full_key_and_refusal_with_a_masked_key(world: World) -> None:
    client = Client()
    body = json.dumps({"customer_ids": {"registered": CANARY_EMAIL}})
    allowed = client.post(
        _api_url(world),
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )
    assert allowed.status_code == 200
    document = json.loads(_body(allowed))
    assert document["customer"]["internal_id"] == world.customer.pk
    assert {p["name"]: p["value"] for p in document["properties"]}[
        "phone"
    ] == world.customer.properties["phone"]
    assert PersonalDataAccess.objects.filter(view="api.personal-data-export").count() == 1

    refused = client.post(
        _api_url(world),
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=world.masked_key.basic,
    )
    assert refused.status_code == 403
    text = _body(refused)
    assert_no_canary(text)
    assert json.loads(text)["success"] is False


def test_api_refuses_unknown_keys_and_unknown_customers(world: World) -> None:
    client = Client()

    def post(payload: Any) -> Any:
        return client.post(
            _api_url(world),
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_AUTHORIZATION=world.full_key.basic,
        )

    assert post({"customer_ids": {"registered": CANARY_EMAIL}, "x": 1}).status_code == 400
    missing = post({"customer_ids": {"registered": "nobody@nowhere.test"}})
    assert missing.status_code == 404
    assert "nobody@nowhere.test" not in _body(missing)
    assert not AuditEvent.objects.filter(action="customer.personal_data_export").exists()


def test_anonymized_customer_exports_its_state_and_no_removed_value(world: World) -> None:
    anonymization.customer_anonymize(
        actor=factories.principal_of(world.admin, world.project),
        customers=[world.customer.pk],
        source="app",
    )
    _, json_url = _urls(world)
    text = _body(_client(world.admin).get(json_url))
    assert_no_canary(text)
    document = json.loads(text)
    assert document["anonymization"]["anonymized"] is True
    assert len(document["anonymization"]["receipts"]) == 1
    assert [e["type"] for e in document["events"]] == ["page_visit", "purchase", "anonymization"]


def test_events_stream_in_chunks_each_once_in_order(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(personal_data_export, "EVENT_CHUNK", 3)
    factories.track_customer(
        world.project,
        {"registered": CANARY_EMAIL},
        events=[("view", {"n": n}) for n in range(8)],
    )
    document = personal_data_export.personal_data_export(
        actor=factories.principal_of(world.admin, world.project), customer_pk=world.customer.pk
    )
    blocks = list(personal_data_export.json_blocks(document, block_events=4))
    assert len(blocks) > 3
    parsed = json.loads(b"".join(blocks))
    views = [e["properties"]["n"] for e in parsed["events"] if e["type"] == "view"]
    assert views == list(range(8))
    assert parsed["event_count"] == len(parsed["events"]) == 10
