"""The official exponea-python-sdk 0.2.0 with project-defined IDs and ISO timestamps (issue 15).

The project adds ``crm_id`` (hard, PII) and ``phone_id`` (soft, PII) through the API, as a
script would, plus ``shop_no`` (soft, not PII). Every tracking and customer method of the
SDK then works by those names: the full key tracks, merges, reads, exports and anonymizes
by ``crm_id``; the key without Personal data tracks by it, is refused a lookup by it, and
looking up by ``shop_no`` gets one ``******`` per PII ID.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from exponea_python_sdk import Exponea
from exponea_python_sdk.exceptions import APIException

from customers.models import Customer, CustomerId, Event
from tests.conftest import CANARY_EMAIL, World

pytestmark = pytest.mark.django_db(transaction=True)

MASK = "******"
CRM = "crm.sdk.canary.5501"
PHONE = "phone.sdk.canary.5502"
SHOP_NO = {"shop_no": "shop-5501"}
ISO = "2026-11-30T12:00:00Z"
ISO_SECONDS = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()


def sdk(world: World, live_server: Any, *, masked: bool) -> Exponea:
    creds = world.masked_key if masked else world.full_key
    return Exponea(
        str(world.project.token),
        username=creds.key.key_id,
        password=creds.secret,
        url=live_server.url,
    )


@pytest.fixture(autouse=True)
def _quiet_sdk_logger() -> Any:
    logging.getLogger("exponea-python-sdk").setLevel(logging.CRITICAL)
    yield


def add_id(world: World, live_server: Any, body: dict[str, Any]) -> None:
    """The SDK has no call for it: the script posts to our endpoint with the same key."""
    response = requests.post(
        f"{live_server.url}/data/v2/projects/{world.project.token}/data-manager/ids",
        json=body,
        auth=(world.full_key.key.key_id, world.full_key.secret),
        timeout=10,
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def custom(world: World, live_server: Any) -> World:
    add_id(world, live_server, {"name": "crm_id", "hard": True, "pii": True})
    add_id(world, live_server, {"name": "phone_id", "hard": False, "pii": True})
    add_id(world, live_server, {"name": "shop_no", "hard": False, "pii": False})
    client = sdk(world, live_server, masked=False)
    ids = {"registered": CANARY_EMAIL, "crm_id": CRM, "phone_id": PHONE, **SHOP_NO}
    assert client.tracking.update_customer_properties(ids, {}) is True
    return world


@pytest.mark.parametrize("masked", [False, True], ids=["full key", "masked key"])
def test_sdk_tracks_and_merges_by_a_custom_hard_id_with_iso_timestamps(
    custom: World, live_server: Any, masked: bool
) -> None:
    client = sdk(custom, live_server, masked=masked)
    crm, phone = f"crm-sdk-{masked}", f"ph-sdk-{masked}"
    assert client.tracking.add_event({"phone_id": phone}, "page_visit", {"n": 1}) is True
    assert client.tracking.update_customer_properties({"crm_id": crm}, {"plan": "gold"}) is True
    # One call naming both: the phone-only visitor merges into the crm_id customer.
    assert (
        client.tracking.add_event(
            {"crm_id": crm, "phone_id": phone}, "purchase", {"total": 9}, timestamp=ISO
        )
        is True
    )
    results = client.tracking.batch_commands(
        [
            client.tracking.update_customer_properties({"crm_id": crm}, {"city": "Zilina"}, True),
            client.tracking.add_event({"crm_id": crm}, "view", {"n": 2}, ISO, batch=True),
            client.tracking.get_system_time(batch=True),
        ]
    )
    assert results[:2] == [True, True] and isinstance(results[2], float)
    owner = CustomerId.objects.get(name="crm_id", value=crm).customer
    assert CustomerId.objects.get(name="phone_id", value=phone).customer_id == owner.pk
    assert owner.properties == {"plan": "gold", "city": "Zilina"}
    events = Event.objects.filter(customer=owner)
    assert sorted(events.values_list("event_type__name", flat=True)) == [
        "page_visit",
        "purchase",
        "view",
    ]
    for name in ("purchase", "view"):
        assert events.get(event_type__name=name).timestamp.timestamp() == ISO_SECONDS
    # A second crm_id value is another person: never merged.
    assert client.tracking.update_customer_properties({"crm_id": f"{crm}-2"}, {}) is True
    assert CustomerId.objects.get(name="crm_id", value=f"{crm}-2").customer_id != owner.pk


def test_sdk_full_key_reads_by_a_custom_hard_id(custom: World, live_server: Any) -> None:
    client = sdk(custom, live_server, masked=False)
    ids = {"crm_id": CRM}
    customer = client.customer.get_customer(ids)
    assert customer["ids"]["crm_id"] == CRM and customer["ids"]["phone_id"] == [PHONE]
    assert customer["ids"]["registered"] == CANARY_EMAIL
    attrs = client.customer.get_customer_attributes(
        ids, properties=["plan"], ids=["crm_id", "phone_id", "shop_no"]
    )
    assert attrs == {
        "properties": {"plan": "premium"},
        "ids": {"crm_id": CRM, "phone_id": [PHONE], "shop_no": ["shop-5501"]},
    }
    events = client.customer.get_events({"phone_id": PHONE}, ["purchase"])
    assert [e["type"] for e in events] == ["purchase"]
    everyone = client.customer.get_customers()
    assert [c["ids"]["crm_id"] for c in everyone] == [CRM]


def test_sdk_masked_key_is_refused_a_pii_id_lookup_and_sees_masks_by_a_non_pii_one(
    custom: World, live_server: Any
) -> None:
    client = sdk(custom, live_server, masked=True)
    for call in (
        lambda: client.customer.get_customer({"crm_id": CRM}),
        lambda: client.customer.get_customer({"phone_id": PHONE}),
        lambda: client.customer.get_customer_attributes({"crm_id": CRM}, properties=["plan"]),
        lambda: client.customer.get_events({"crm_id": CRM}, ["purchase"]),
    ):
        with pytest.raises(APIException, match="personal data"):
            call()
    customer = client.customer.get_customer(SHOP_NO)
    assert customer["ids"]["crm_id"] == MASK and customer["ids"]["phone_id"] == [MASK]
    assert customer["ids"]["shop_no"] == ["shop-5501"]
    attrs = client.customer.get_customer_attributes(
        SHOP_NO, properties=["plan"], ids=["crm_id", "phone_id"]
    )
    assert attrs == {"properties": {"plan": "premium"}, "ids": {"crm_id": MASK, "phone_id": [MASK]}}
    everyone = client.customer.get_customers()
    assert everyone[0]["ids"]["crm_id"] == MASK
    text = json.dumps([customer, attrs, everyone, client.customer.get_events(SHOP_NO, ["x"])])
    assert CRM not in text and PHONE not in text and CANARY_EMAIL not in text


def test_sdk_anonymize_by_a_custom_hard_id_removes_every_id_and_suppresses_it(
    custom: World, live_server: Any
) -> None:
    client = sdk(custom, live_server, masked=False)
    assert client.customer.anonymize_customer({"crm_id": CRM}) is True
    customer = Customer.objects.get(pk=custom.customer.pk)
    assert customer.anonymized_at is not None
    left = list(CustomerId.objects.filter(customer=customer).values_list("name", "value"))
    assert [name for name, _ in left] == ["cookie"]
    assert left[0][1] not in (CRM, PHONE, "ck-canary-1")
    with pytest.raises(APIException):
        client.customer.get_customer({"crm_id": CRM})  # gone
    with pytest.raises(APIException, match="suppressed"):
        client.tracking.update_customer_properties({"crm_id": CRM}, {"plan": "back"})
    assert not CustomerId.objects.filter(name="crm_id", value=CRM).exists()
