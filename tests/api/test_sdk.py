"""Compatibility proof: the public exponea-python-sdk 0.2.0 against the live test server.

A script that talks to Exponea works here by changing only the URL and the credentials.
Both keys run the same calls; the masked key never receives a canary, the full key does.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from exponea_python_sdk import Exponea
from exponea_python_sdk.exceptions import APIException

from customers.models import Customer, CustomerId, Event
from tests.conftest import CANARIES, CANARY_EMAIL, CANARY_NAME, World, assert_no_canary

pytestmark = pytest.mark.django_db(transaction=True)

MASK = "******"


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
    # The SDK logs whole error bodies; keep test output readable.
    logging.getLogger("exponea-python-sdk").setLevel(logging.CRITICAL)
    yield


def read_everything(client: Exponea, ids: dict[str, str] | None = None) -> str:
    """Every reading call of the SDK, as one text to search for canaries."""
    ids = ids or {"registered": CANARY_EMAIL}
    out = [
        client.customer.get_customer(ids),
        client.customer.get_customer_attributes(
            ids, properties=["email", "first_name", "plan"], ids=["registered", "cookie"]
        ),
        client.customer.get_events(ids, ["page_visit", "purchase"]),
        client.customer.get_customers(),
    ]
    return json.dumps(out)


@pytest.mark.parametrize("masked", [False, True], ids=["full key", "masked key"])
def test_sdk_tracking_calls(world: World, live_server: Any, masked: bool) -> None:
    client = sdk(world, live_server, masked=masked)
    ids = {"registered": f"sdk-{masked}@x.test"}
    assert client.tracking.update_customer_properties(ids, {"plan": "gold"}) is True
    assert client.tracking.add_event(ids, "purchase", {"total": 5}, timestamp=1_700_000_500) is True
    assert client.tracking.add_event(ids, "page_visit") is True  # SDK sends nulls
    now = client.tracking.get_system_time()
    assert isinstance(now, float) and now > 1.7e9
    results = client.tracking.batch_commands(
        [
            client.tracking.update_customer_properties(ids, {"city": "Kosice"}, batch=True),
            client.tracking.add_event(ids, "view", {"n": 1}, batch=True),
            client.tracking.get_system_time(batch=True),
        ]
    )
    assert results[:2] == [True, True] and isinstance(results[2], float)
    customer = CustomerId.objects.get(name="registered", value=ids["registered"]).customer
    assert customer.properties == {"plan": "gold", "city": "Kosice"}
    assert sorted(
        Event.objects.filter(customer=customer).values_list("event_type__name", flat=True)
    ) == [
        "page_visit",
        "purchase",
        "view",
    ]
    stamped = Event.objects.get(customer=customer, event_type__name="purchase")
    assert stamped.timestamp.timestamp() == 1_700_000_500


def test_sdk_reads_with_the_full_key_see_personal_data(world: World, live_server: Any) -> None:
    client = sdk(world, live_server, masked=False)
    customer = client.customer.get_customer({"registered": CANARY_EMAIL})
    assert customer["ids"]["registered"] == CANARY_EMAIL
    assert customer["properties"]["first_name"] == CANARY_NAME
    attrs = client.customer.get_customer_attributes(
        {"registered": CANARY_EMAIL}, properties=["email", "plan"], ids=["registered"]
    )
    assert attrs == {
        "properties": {"email": CANARY_EMAIL, "plan": "premium"},
        "ids": {"registered": CANARY_EMAIL},
    }
    events = client.customer.get_events({"registered": CANARY_EMAIL}, ["purchase"])
    assert [e["type"] for e in events] == ["purchase"]
    customers = client.customer.get_customers()
    assert {c["ids"]["registered"] for c in customers} == {CANARY_EMAIL}
    text = read_everything(client)
    assert all(c in text for c in CANARIES)


def test_sdk_reads_with_the_masked_key_never_see_personal_data(
    world: World, live_server: Any, crm_id: dict[str, str]
) -> None:
    client = sdk(world, live_server, masked=True)
    customer = client.customer.get_customer(crm_id)
    assert customer["ids"]["registered"] == MASK
    assert customer["properties"]["first_name"] == MASK
    assert customer["properties"]["plan"] == "premium"
    attrs = client.customer.get_customer_attributes(
        crm_id, properties=["email", "plan"], ids=["registered"]
    )
    assert attrs == {"properties": {"email": MASK, "plan": "premium"}, "ids": {"registered": MASK}}
    customers = client.customer.get_customers()
    assert customers[0]["ids"]["registered"] == MASK
    assert customers[0]["properties"]["plan"] == "premium"
    assert_no_canary(read_everything(client, crm_id))


@pytest.mark.parametrize("masked", [False, True], ids=["full key", "masked key"])
def test_sdk_anonymize(world: World, live_server: Any, masked: bool) -> None:
    client = sdk(world, live_server, masked=masked)
    assert client.customer.anonymize_customer({"registered": CANARY_EMAIL}) is True
    customer = Customer.objects.get(pk=world.customer.pk)
    assert customer.anonymized_at is not None
    assert_no_canary(json.dumps(customer.properties))
    with pytest.raises(APIException):
        client.customer.get_customer({"registered": CANARY_EMAIL})  # the ID is gone


def test_sdk_errors_raise_api_exception(world: World, live_server: Any) -> None:
    client = sdk(world, live_server, masked=True)
    with pytest.raises(APIException):
        client.customer.get_customer({"registered": "nobody@x.test"})
    wrong = Exponea(str(world.project.token), username="nope", password="nope", url=live_server.url)
    with pytest.raises(APIException, match="Invalid API key"):
        wrong.tracking.get_system_time()
    foreign = Exponea(
        str(world.other_project.token),
        username=world.full_key.key.key_id,
        password=world.full_key.secret,
        url=live_server.url,
    )
    with pytest.raises(APIException):
        foreign.tracking.update_customer_properties({"registered": "f@x.test"}, {"a": 1})
    assert not CustomerId.objects.filter(value="f@x.test").exists()
