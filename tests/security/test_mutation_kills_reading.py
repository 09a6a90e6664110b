"""What an API key without Personal data receives from the data API's readers (issue 20).

``customers/api/reading.py`` decides the masked shape of ``export-one``, ``attributes`` and
``events`` and refuses a lookup by a PII ID. The mutation run mutates it one change at a
time against these tests, so each answer is compared whole, for a key without Personal
data (masks, one per hidden ID name) and for one with it (every value as stored).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from access.errors import Forbidden, InvalidInput, NotFound, PiiFieldRefused
from access.models import Project
from access.principal import Principal
from consents.services import consent_category_create
from customers.api import reading
from customers.models import Customer
from customers.services import event_track
from datamanager.catalog import PiiCatalog
from datamanager.masking import MASK, Masker
from datamanager.services import attribute_declare, pii_flags_set
from tests import factories

REGISTERED = "reg-canary@leak.test"  # PII hard ID
DEVICES = ["dev-canary-1", "dev-canary-2"]  # PII soft ID, two values
COOKIE = "ck-reader-1"  # not PII: how a restricted key finds the customer
PROPERTIES: dict[str, Any] = {"email": "mail-canary@leak.test", "age": 0, "city": "Brno"}
FIRST = {"address": "77 Canary Row", "total": 0, "item": "Bag"}
SECOND = {"address": None, "total": 12.5, "item": "Hat"}
CONSENT = {
    "action": "accept",
    "category": "newsletter",
    "valid_until": "unlimited",
    "message": "msg-canary: yes please",  # PII here
}


class Readers:
    def __init__(self, project: Project, customer: Customer) -> None:
        self.project = project
        self.customer = customer
        key_perms = ("read_customers", "export_customers")
        self.masked = factories.make_key(project, *key_perms, name="Masked").principal
        self.full = factories.make_key(
            project, *key_perms, "view_personal_data", name="Full"
        ).principal
        self.no_read = factories.make_key(project, "track", name="Track only").principal


@pytest.fixture
def readers(db: Any) -> Readers:
    project = factories.make_project("Reader shop")
    actor = factories.system(project)
    attribute_declare(actor=actor, name="device", kind="id")
    attribute_declare(actor=actor, name="loyalty", kind="id")  # the customer has none
    ids = {"cookie": COOKIE, "registered": REGISTERED, "device": DEVICES[0]}
    customer = factories.track_customer(
        project, ids, PROPERTIES, [("purchase", FIRST), ("purchase", SECOND)]
    )
    factories.track_customer(project, {"cookie": COOKIE, "device": DEVICES[1]})
    consent_category_create(actor=actor, name="newsletter", label="Newsletter")
    event_track(
        actor=actor, ids={"cookie": COOKIE}, event_type="consent", timestamp=1, properties=CONSENT
    )
    pii_flags_set(
        actor=actor,
        customer_attributes={"registered": True, "device": True, "email": True, "age": True},
        event_attributes={
            ("purchase", "address"): True,
            ("purchase", "total"): True,
            ("consent", "message"): True,
        },
    )
    return Readers(project, customer)


def masker(principal: Principal) -> Masker:
    return Masker.for_principal(principal)


# ids_shaped and _event_out need no database ----------------------------------------------------


def test_ids_shaped_gives_a_hard_id_its_value_and_a_soft_id_its_list() -> None:
    ids = {"registered": ["r1"], "device": ["d1", "d2"], "cookie": ["c1"]}
    hard = {"registered": True, "device": False}
    assert reading.ids_shaped(ids, hard) == {
        "registered": "r1",
        "device": ["d1", "d2"],
        "cookie": ["c1"],
    }
    assert reading.ids_shaped({}, hard) == {}


def test_event_out_masks_pii_event_attributes_for_a_key_without_personal_data() -> None:
    catalog = PiiCatalog(project_id=1, event_attributes={"purchase": frozenset({"address"})})
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    event = SimpleNamespace(
        event_type=SimpleNamespace(name="purchase"),
        timestamp=when,
        properties={"address": 7, "item": "Bag"},
    )
    restricted = Masker(catalog, can_see_personal_data=False)
    assert reading._event_out(restricted, event) == {  # type: ignore[arg-type]
        "type": "purchase",
        "timestamp": when.timestamp(),
        "properties": {"address": MASK, "item": "Bag"},
    }
    permitted = Masker(catalog, can_see_personal_data=True)
    out = reading._event_out(permitted, event)  # type: ignore[arg-type]
    assert out["properties"] == {"address": 7, "item": "Bag"}


# customer_find --------------------------------------------------------------------------------


def test_a_lookup_by_a_pii_id_is_refused_without_personal_data_whatever_the_value(
    readers: Readers,
) -> None:
    for value in (REGISTERED, "nobody@leak.test"):
        with pytest.raises(PiiFieldRefused) as refused:
            reading.customer_find(readers.masked, {"registered": value})
        assert refused.value.attribute == "registered"
        assert str(refused.value) == (
            "Attribute 'registered' is personal data: you need the Personal data "
            "permission to look a customer up by it."
        )
    with pytest.raises(PiiFieldRefused) as first:  # the first hidden name, by name
        reading.customer_find(readers.masked, {"registered": REGISTERED, "device": DEVICES[0]})
    assert first.value.attribute == "device"
    assert reading.customer_find(readers.masked, {"cookie": COOKIE}).pk == readers.customer.pk
    assert reading.customer_find(readers.full, {"registered": REGISTERED}).pk == readers.customer.pk
    with pytest.raises(NotFound):
        reading.customer_find(readers.full, {"registered": "nobody@leak.test"})


def test_a_lookup_needs_read_customers_before_anything_is_read(readers: Readers) -> None:
    with pytest.raises(Forbidden) as refused:
        reading.customer_find(readers.no_read, {"cookie": "no such cookie"})
    assert not isinstance(refused.value, PiiFieldRefused)
    assert str(refused.value) == "This action needs the 'view_customers' permission."


# export-one -----------------------------------------------------------------------------------


def test_export_one_masks_ids_properties_and_event_attributes(readers: Readers) -> None:
    restricted = masker(readers.masked)
    got = reading.customer_export_one(readers.masked, restricted, readers.customer)
    events = got.pop("events")
    assert got == {
        "success": True,
        "ids": {"cookie": [COOKIE], "device": [MASK], "registered": MASK},
        "properties": {"email": MASK, "age": MASK, "city": "Brno"},
    }
    assert [e["properties"] for e in events] == [
        {**CONSENT, "message": MASK},
        {"address": MASK, "total": MASK, "item": "Bag"},
        {"address": None, "total": MASK, "item": "Hat"},
    ]
    assert [e["type"] for e in events] == ["consent", "purchase", "purchase"]
    assert events[1]["timestamp"] < events[2]["timestamp"]  # oldest first
    assert restricted.revealed == set()

    permitted = masker(readers.full)
    full = reading.customer_export_one(readers.full, permitted, readers.customer)
    assert full["ids"] == {"cookie": [COOKIE], "device": DEVICES, "registered": REGISTERED}
    assert full["properties"] == PROPERTIES
    assert [e["properties"] for e in full["events"]] == [CONSENT, FIRST, SECOND]
    assert permitted.revealed == {
        "consent.message",
        "registered",
        "device",
        "email",
        "age",
        "purchase.address",
        "purchase.total",
    }


def test_export_one_lists_events_by_time_then_id_in_three_queries(
    readers: Readers, django_assert_num_queries: Any
) -> None:
    actor = factories.system(readers.project)
    for timestamp, n in ((1_600_000_000, 1), (1_650_000_000, 2), (1_650_000_000, 3)):
        event_track(
            actor=actor,
            ids={"registered": REGISTERED},
            event_type="visit",
            timestamp=timestamp,
            properties={"n": n},
        )
    restricted = masker(readers.masked)
    with django_assert_num_queries(3):  # ID names, IDs, events with their types
        got = reading.customer_export_one(readers.masked, restricted, readers.customer)
    assert [(e["type"], e["properties"].get("n")) for e in got["events"]] == [
        ("consent", None),
        ("visit", 1),
        ("visit", 2),
        ("visit", 3),
        ("purchase", None),
        ("purchase", None),
    ]


def test_export_one_of_a_customer_without_ids_has_empty_ids(readers: Readers) -> None:
    bare = Customer.objects.create(project=readers.project, properties={"email": "x@leak.test"})
    got = reading.customer_export_one(readers.masked, masker(readers.masked), bare)
    assert got == {"success": True, "ids": {}, "properties": {"email": MASK}, "events": []}
    ask = [{"type": "id", "id": "cookie"}, {"type": "id", "id": "registered"}]
    got_ids = reading.customer_attributes(readers.masked, masker(readers.masked), bare, ask)
    assert got_ids == [{"success": True, "value": None}, {"success": True, "value": None}]


# attributes -----------------------------------------------------------------------------------

REQUEST: list[Any] = [
    {"type": "property", "property": "email"},
    {"type": "property", "property": "age"},
    {"type": "property", "property": "city"},
    {"type": "property", "property": "missing"},
    {"type": "id", "id": "registered"},
    {"type": "id", "id": "device"},
    {"type": "id", "id": "cookie"},
    {"type": "id", "id": "loyalty"},
    {"type": "id", "id": "nonsense"},
    {"type": "id", "id": 5},
    {"type": "property", "property": ""},
    {"type": "property", "property": 5},
    {"type": "property"},
    {"type": "segmentation", "id": "x"},
    "property",
    {"type": "consent", "category": "newsletter"},
    {"type": "consent", "category": "newsletter", "mode": "message"},
    {"type": "consent", "category": "sms"},
]
NOT_SUPPORTED = "type not supported; use 'property' or 'id'."


def expected(
    email: Any, age: Any, registered: Any, device: Any, message: Any
) -> list[dict[str, Any]]:
    return [
        {"success": True, "value": email},
        {"success": True, "value": age},
        {"success": True, "value": "Brno"},
        {"success": True, "value": None},
        {"success": True, "value": registered},
        {"success": True, "value": device},
        {"success": True, "value": [COOKIE]},
        {"success": True, "value": None},
        {"success": False, "error": "Attribute 9: unknown ID."},
        {"success": False, "error": "Attribute 10: unknown ID."},
        {"success": False, "error": "Attribute 11: no property."},
        {"success": False, "error": "Attribute 12: no property."},
        {"success": False, "error": "Attribute 13: no property."},
        {"success": False, "error": f"Attribute 14: {NOT_SUPPORTED}"},
        {"success": False, "error": f"Attribute 15: {NOT_SUPPORTED}"},
        {"success": True, "value": True},
        {"success": True, "value": message},
        {"success": False, "error": "Attribute 18: unknown consent category."},
    ]


def test_attributes_mask_pii_properties_and_ids_one_mask_per_name(readers: Readers) -> None:
    restricted = masker(readers.masked)
    got = reading.customer_attributes(readers.masked, restricted, readers.customer, REQUEST)
    assert got == expected(MASK, MASK, MASK, [MASK], MASK)
    assert restricted.revealed == set()
    permitted = masker(readers.full)
    got = reading.customer_attributes(readers.full, permitted, readers.customer, REQUEST)
    assert got == expected(PROPERTIES["email"], 0, REGISTERED, DEVICES, CONSENT["message"])
    assert permitted.revealed == {"email", "age", "registered", "device", "consent.message"}


def test_attributes_read_the_ids_once_and_only_when_asked(
    readers: Readers, django_assert_num_queries: Any
) -> None:
    restricted = masker(readers.masked)
    ask = [{"type": "property", "property": "city"}]
    with django_assert_num_queries(1):  # the ID names
        reading.customer_attributes(readers.masked, restricted, readers.customer, ask)
    ask = [{"type": "id", "id": "cookie"}, {"type": "id", "id": "device"}]
    with django_assert_num_queries(2):  # the ID names, the customer's IDs once
        got = reading.customer_attributes(readers.masked, restricted, readers.customer, ask)
    assert got == [{"success": True, "value": [COOKIE]}, {"success": True, "value": [MASK]}]


def test_attributes_must_be_a_list_of_at_most_the_limit(readers: Readers) -> None:
    restricted = masker(readers.masked)
    for bad in (None, {"type": "property"}, "email"):
        with pytest.raises(InvalidInput) as refused:
            reading.customer_attributes(readers.masked, restricted, readers.customer, bad)
        assert str(refused.value) == "attributes must be a list."
    at_limit = [{"type": "property", "property": "city"}] * reading.MAX_ATTRIBUTES
    got = reading.customer_attributes(readers.masked, restricted, readers.customer, at_limit)
    assert len(got) == reading.MAX_ATTRIBUTES == 1000
    with pytest.raises(InvalidInput) as refused:
        reading.customer_attributes(
            readers.masked, restricted, readers.customer, [*at_limit, at_limit[0]]
        )
    assert str(refused.value) == "At most 1000 attributes per request."
    assert reading.customer_attributes(readers.masked, restricted, readers.customer, []) == []
