"""A tracked number beyond double precision's range is a 400 naming the property.

PostgreSQL compares numbers as double precision: the filter, sorts and the expression
index on ``lifetime_value`` (customers/0002) cast the JSON number, and a 400-digit integer
has no such value, so storing one made the customer's insert fail with a DataError (a 500
from the tracking API) and would have made every later filter on it fail. Refused on both
databases alike, before anything is written; the largest double still goes in.
"""

from __future__ import annotations

import sys

import pytest

from customers.models import Customer, Event
from tests.api.conftest import ApiClient
from tests.conftest import World

pytestmark = pytest.mark.django_db

HUGE = int("9" * 400)
LARGEST = int(sys.float_info.max)


@pytest.mark.parametrize("value", [HUGE, -HUGE, LARGEST + 1])
def test_customer_property_out_of_range_is_a_400_and_writes_nothing(
    world: World, full: ApiClient, value: int
) -> None:
    before = Customer.objects.filter(project=world.project).count()
    body = {"customer_ids": {"registered": "huge@x.test"}, "properties": {"lifetime_value": value}}
    r = full.track("customers", body)
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "errors": ["properties.lifetime_value is a number out of range (at most about 1.8e308)."],
    }
    assert Customer.objects.filter(project=world.project).count() == before


def test_event_property_out_of_range_is_a_400(world: World, full: ApiClient) -> None:
    before = Event.objects.filter(project=world.project).count()
    body = {
        "customer_ids": {"registered": "huge@x.test"},
        "event_type": "purchase",
        "properties": {"total": HUGE},
    }
    r = full.track("customers/events", body)
    assert r.status_code == 400 and "properties.total is a number out of range" in r.text
    assert Event.objects.filter(project=world.project).count() == before


def test_in_a_batch_only_that_command_fails(world: World, full: ApiClient) -> None:
    commands = [
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "n1@x.test"}, "properties": {"lv": HUGE}},
        },
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "n2@x.test"}, "properties": {"lv": LARGEST}},
        },
    ]
    r = full.track("batch", {"commands": commands})
    assert r.status_code == 200
    results = r.json()["results"]
    assert (
        results[0]["success"] is False
        and "properties.lv is a number out of range" in (results[0]["errors"][0])
    )
    assert results[1] == {"success": True}
    stored = Customer.objects.get(project=world.project, external_ids__value="n2@x.test")
    assert stored.properties == {"lv": LARGEST}
    assert not Customer.objects.filter(project=world.project, external_ids__value="n1@x.test")
