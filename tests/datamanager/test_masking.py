"""Unit tests of every ``Masker`` method and of the ``PiiCatalog`` it reads.

Each masking decision is checked both ways: the restricted principal gets the mask (or the
refusal) for every JSON type a PII value can have, and the principal with Personal data gets
the value itself, so a pass-through or an always-mask mutant fails here.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import pickle
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.errors import PiiFieldRefused
from datamanager.catalog import (
    PiiCatalog,
    catalog_for_project,
    catalog_invalidate,
    catalog_load,
)
from datamanager.masking import MASK, MASKED, Masked, Masker, is_masked
from datamanager.services import pii_flags_set
from tests import factories
from tests.conftest import World

REDIS_URL = os.environ.get("MASKING_TEST_REDIS", "redis://127.0.0.1:6379/4")

CATALOG = PiiCatalog(
    project_id=7,
    customer_properties=frozenset({"email", "birth_date"}),
    id_names=frozenset({"registered"}),
    event_attributes={"purchase": frozenset({"address"}), "visit": frozenset({"ip"})},
)

# A PII value of every JSON type (dates arrive as strings or as numbers of seconds).
EVERY_TYPE: list[Any] = [
    "canary@leak.test",
    "",
    0,
    41,
    -3.5,
    1_700_000_000.25,
    True,
    False,
    ["a", 1, None],
    [],
    {"street": "Canary Row", "no": 7},
    {},
    "1990-04-12",
    "2024-05-06T07:08:09Z",
]


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def restricted() -> Masker:
    return Masker(CATALOG, can_see_personal_data=False)


def permitted() -> Masker:
    return Masker(CATALOG, can_see_personal_data=True)


# Which names are hidden -----------------------------------------------------------------------


def test_hides_customer_attribute_for_pii_properties_and_ids_only_without_personal_data() -> None:
    assert restricted().hides_customer_attribute("email")
    assert restricted().hides_customer_attribute("registered")
    assert not restricted().hides_customer_attribute("city")
    assert not restricted().hides_customer_attribute("address")  # an event attribute's name
    assert not permitted().hides_customer_attribute("email")
    assert not permitted().hides_customer_attribute("registered")


def test_hides_event_attribute_per_event_type() -> None:
    assert restricted().hides_event_attribute("purchase", "address")
    assert restricted().hides_event_attribute("visit", "ip")
    assert not restricted().hides_event_attribute("visit", "address")  # other type's PII
    assert not restricted().hides_event_attribute("purchase", "total")
    assert not restricted().hides_event_attribute("unknown", "address")
    assert not restricted().hides_event_attribute("purchase", "email")  # a customer PII name
    assert not permitted().hides_event_attribute("purchase", "address")


# Values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", EVERY_TYPE, ids=repr)
def test_customer_value_masks_every_json_type(value: Any) -> None:
    assert restricted().customer_value("email", value) == MASK
    assert restricted().customer_value("registered", value) == MASK
    assert restricted().customer_value("city", value) == value
    assert permitted().customer_value("email", value) == value


def test_customer_value_keeps_a_missing_value_missing() -> None:
    assert restricted().customer_value("email", None) is None
    assert permitted().customer_value("email", None) is None
    assert restricted().customer_value("city", None) is None


def test_customer_properties_masks_pii_names_and_keeps_the_rest() -> None:
    props = {"email": 12345, "birth_date": "1990-04-12", "city": "Bratislava", "n": 3}
    assert restricted().customer_properties(props) == {
        "email": MASK,
        "birth_date": MASK,
        "city": "Bratislava",
        "n": 3,
    }
    assert permitted().customer_properties(props) == props
    assert restricted().customer_properties({"email": None}) == {"email": None}
    assert restricted().customer_properties({}) == {}


def test_customer_ids_masks_every_value_of_a_pii_name() -> None:
    ids = {"registered": "a@b.test", "cookie": ["c1", "c2"]}
    assert restricted().customer_ids(ids) == {"registered": MASK, "cookie": ["c1", "c2"]}
    assert restricted().customer_ids({"registered": []}) == {"registered": []}
    assert restricted().customer_ids({"registered": None}) == {"registered": None}
    assert permitted().customer_ids({"registered": ["x", "y"]}) == {"registered": ["x", "y"]}
    assert permitted().customer_ids(ids) == ids
    assert restricted().customer_ids({}) == {}


@pytest.mark.parametrize("count", [1, 2, 3, 50])
def test_a_masked_id_list_is_one_marker_whatever_its_count(count: int) -> None:
    """The ID rule: the number of values a hidden ID name has never shows."""
    values = [f"r{i}@leak.test" for i in range(count)]
    for masker in (restricted(), Masker(CATALOG, can_see_personal_data=False)):
        shown = masker.customer_ids({"registered": values})["registered"]
        assert shown == [MASKED] and shown[0] is MASKED  # a list stays a list: of one
        assert masker.id_values("registered", values) == [MASKED]
        assert masker.id_values("registered", values[0]) is MASKED  # a hard ID's one value
    assert permitted().id_values("registered", values) == values
    assert restricted().id_values("cookie", values) == values  # not PII: every value


def test_id_values_keeps_nothing_as_nothing_and_notes_what_it_reveals() -> None:
    assert restricted().id_values("registered", None) is None
    assert restricted().id_values("registered", []) == []
    masker = permitted()
    assert masker.id_values("registered", []) == []
    assert masker.revealed == set()
    assert masker.id_values("cookie", ["c1"]) == ["c1"]
    assert masker.revealed == set()
    assert masker.id_values("registered", "r1") == "r1"
    assert masker.revealed == {"registered"}


def test_masked_values_are_the_typed_marker_and_render_as_the_mask() -> None:
    """Every masking method hands back the marker, and the marker renders as ``******`` in
    JSON, CSV and text, so callers need no encoder and never compare text to decide."""
    masker = restricted()
    produced = [
        masker.customer_value("email", "e@leak.test"),
        masker.customer_properties({"email": 5})["email"],
        masker.customer_ids({"registered": "r"})["registered"],
        masker.id_values("registered", ["r1", "r2"])[0],
        masker.event_value("purchase", "address", {"street": "x"}),
        masker.event_properties("visit", {"ip": "1.2.3.4"})["ip"],
    ]
    for value in produced:
        assert value is MASKED and is_masked(value) and isinstance(value, Masked)
    assert Masked() is MASKED
    assert str(MASKED) == MASK == "******" and f"{MASKED}" == MASK
    assert repr(MASKED) == "MASKED"
    assert (
        json.dumps({"email": MASKED, "ids": [MASKED]}) == '{"email": "******", "ids": ["******"]}'
    )
    out = io.StringIO()
    csv.writer(out).writerow([MASKED, "plain"])
    assert out.getvalue() == "******,plain\r\n"
    assert pickle.loads(pickle.dumps(MASKED)) is MASKED  # noqa: S301 (our own bytes)
    assert copy.deepcopy([MASKED])[0] is MASKED


@pytest.mark.parametrize("stored", [MASK, "******", " ******", "*" * 6])
def test_a_stored_literal_mask_is_a_value_not_the_marker(stored: str) -> None:
    """A customer who typed ``******`` as their name has a value, not a masked one."""
    assert not is_masked(stored)
    assert not is_masked(permitted().customer_value("city", stored))
    assert not is_masked(permitted().customer_value("email", stored))
    assert not is_masked(restricted().customer_value("city", stored))
    assert not is_masked(permitted().id_values("registered", [stored])[0])
    assert not is_masked(permitted().event_value("purchase", "address", stored))
    assert is_masked(restricted().customer_value("email", stored))


@pytest.mark.parametrize("value", EVERY_TYPE, ids=repr)
def test_event_value_masks_every_json_type(value: Any) -> None:
    assert restricted().event_value("purchase", "address", value) == MASK
    assert restricted().event_value("visit", "address", value) == value
    assert restricted().event_value("purchase", "total", value) == value
    assert permitted().event_value("purchase", "address", value) == value


def test_event_value_keeps_a_missing_value_missing() -> None:
    assert restricted().event_value("purchase", "address", None) is None
    assert permitted().event_value("purchase", "address", None) is None


@pytest.mark.parametrize("value", EVERY_TYPE, ids=repr)
def test_event_properties_masks_every_json_type(value: Any) -> None:
    props = {"address": value, "ip": value, "total": 5}
    assert restricted().event_properties("purchase", props) == {
        "address": MASK,
        "ip": value,  # PII of "visit" only
        "total": 5,
    }
    assert restricted().event_properties("visit", props) == {
        "address": value,
        "ip": MASK,
        "total": 5,
    }
    assert permitted().event_properties("purchase", props) == props


def test_event_properties_keeps_missing_values_and_returns_a_copy() -> None:
    props = {"address": None, "total": 1}
    assert restricted().event_properties("purchase", props) == {"address": None, "total": 1}
    shown = permitted().event_properties("purchase", props)
    assert shown == props
    shown["total"] = 2
    assert props["total"] == 1, "the stored properties must not be handed out for editing"
    assert restricted().event_properties("other", props) == props


# What was revealed (the personal-data access log reads it) -----------------------------------


def test_revealed_names_the_pii_a_permitted_masker_let_through() -> None:
    masker = permitted()
    masker.customer_value("email", 0)
    masker.customer_value("city", "Bratislava")  # not PII
    masker.customer_value("birth_date", None)  # nothing shown
    masker.customer_properties({"birth_date": False})
    masker.customer_ids({"registered": [], "cookie": ["c1"]})  # no value of the PII name
    assert masker.revealed == {"email", "birth_date"}
    masker.customer_ids({"registered": ["r1"]})
    assert masker.revealed == {"email", "birth_date", "registered"}


def test_revealed_names_event_attributes_as_type_dot_name() -> None:
    masker = permitted()
    masker.event_value("purchase", "total", 5)  # not PII
    masker.event_value("visit", "address", "x")  # PII of another type only
    masker.event_value("purchase", "address", None)
    masker.event_properties("visit", {"ip": None, "url": "u"})
    masker.event_properties("other", {"ip": "1.2.3.4"})
    assert masker.revealed == set()
    masker.event_value("purchase", "address", 0)
    masker.event_properties("visit", {"ip": False, "address": "y"})
    assert masker.revealed == {"purchase.address", "visit.ip"}


def test_a_restricted_masker_reveals_nothing() -> None:
    masker = restricted()
    masker.customer_properties({"email": "e", "city": "c"})
    masker.customer_ids({"registered": "r", "cookie": ["c1"]})
    masker.event_value("purchase", "address", "a")
    masker.event_value("purchase", "total", 1)
    masker.event_properties("visit", {"ip": "1.2.3.4", "url": "u"})
    assert masker.revealed == set()


def test_revealable_customer_attributes_lists_the_pii_names_it_would_show() -> None:
    names = ["city", "registered", "email", "email", "cookie"]
    assert permitted().revealable_customer_attributes(names) == ["email", "registered"]
    assert permitted().revealable_customer_attributes(["city"]) == []
    assert restricted().revealable_customer_attributes(names) == []


# Refusals -------------------------------------------------------------------------------------


def refusal(attribute: str, usage: str) -> str:
    return (
        f"Attribute '{attribute}' is personal data: you need the Personal data "
        f"permission to {usage} it."
    )


def test_check_customer_fields_refuses_the_first_pii_name() -> None:
    with pytest.raises(PiiFieldRefused) as refused:
        restricted().check_customer_fields(["city", "registered", "email"], usage="search")
    assert refused.value.attribute == "registered"
    assert str(refused.value) == refusal("registered", "search")
    with pytest.raises(PiiFieldRefused) as default_usage:
        restricted().check_customer_fields(["birth_date"])
    assert str(default_usage.value) == refusal("birth_date", "filter or sort by")
    restricted().check_customer_fields(["city", "plan"])
    restricted().check_customer_fields([])
    permitted().check_customer_fields(["email", "registered"])


def test_check_event_fields_refuses_a_pii_event_attribute() -> None:
    """No filter can name an event attribute yet (issue 22 adds them): the method is the
    refusal those filters will call, so its decision is tested here directly."""
    with pytest.raises(PiiFieldRefused) as refused:
        restricted().check_event_fields("purchase", ["total", "address"], usage="search")
    assert refused.value.attribute == "purchase.address"
    assert str(refused.value) == refusal("purchase.address", "search")
    with pytest.raises(PiiFieldRefused) as default_usage:
        restricted().check_event_fields("visit", ["ip"])
    assert str(default_usage.value) == refusal("visit.ip", "filter or sort by")
    restricted().check_event_fields("visit", ["address", "url"])  # PII of another type
    restricted().check_event_fields("purchase", [])
    permitted().check_event_fields("purchase", ["address"])


# From a principal -----------------------------------------------------------------------------


def test_for_principal_reads_the_project_catalog_and_the_permission(world: World) -> None:
    marketer = Masker.for_principal(factories.principal_of(world.marketer, world.project))
    admin = Masker.for_principal(factories.principal_of(world.admin, world.project))
    masked_key = Masker.for_principal(world.masked_key.principal)
    full_key = Masker.for_principal(world.full_key.principal)
    for masker in (marketer, masked_key):
        assert masker.can_see_personal_data is False
        assert masker.customer_value("email", "x") == MASK
        assert masker.customer_value("city", "x") == "x"
        assert masker.event_value("page_visit", "ip", 1) == MASK
    for masker in (admin, full_key):
        assert masker.can_see_personal_data is True
        assert masker.customer_value("email", "x") == "x"
    assert marketer.catalog.project_id == world.project.pk
    assert marketer.catalog.id_names == {"registered", "cookie"}


# The catalog ----------------------------------------------------------------------------------


def test_catalog_answers_pii_names() -> None:
    assert CATALOG.is_pii_customer_attribute("email")
    assert CATALOG.is_pii_customer_attribute("registered")
    assert not CATALOG.is_pii_customer_attribute("city")
    assert CATALOG.event_pii("purchase") == {"address"}
    assert CATALOG.event_pii("nothing") == frozenset()
    assert PiiCatalog(project_id=1).event_pii("purchase") == frozenset()
    assert not PiiCatalog(project_id=1).is_pii_customer_attribute("email")


def test_catalog_round_trips_through_the_cache_format() -> None:
    data = CATALOG.to_cache()
    assert data == {
        "customer_properties": ["birth_date", "email"],
        "id_names": ["registered"],
        "event_attributes": {"purchase": ["address"], "visit": ["ip"]},
    }
    assert PiiCatalog.from_cache(7, data) == CATALOG
    assert PiiCatalog.from_cache(8, data).project_id == 8


def test_catalog_load_splits_ids_properties_and_event_attributes(world: World) -> None:
    catalog = catalog_load(world.project.pk)
    assert catalog.project_id == world.project.pk
    assert catalog.id_names == {"registered", "cookie"}
    assert catalog.customer_properties == {"email", "phone", "first_name"}
    assert dict(catalog.event_attributes) == {
        "page_visit": {"ip"},
        "purchase": {"shipping_address"},
    }
    assert catalog_load(world.other_project.pk) == PiiCatalog(project_id=world.other_project.pk)
    assert catalog_for_project(world.project.pk) == catalog


def test_catalog_for_project_uses_and_refreshes_a_shared_cache(world: World, settings: Any) -> None:
    """With a shared cache the second read costs no query, and a saved flag is seen at once."""
    if not _redis_answers():
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"masking-test-{uuid.uuid4().hex}",
        }
    }
    first = catalog_for_project(world.project.pk)
    assert first == catalog_load(world.project.pk)
    with CaptureQueriesContext(connection) as queries:
        assert catalog_for_project(world.project.pk) == first
    assert len(queries.captured_queries) == 0, "a cached catalog must not be read again"
    pii_flags_set(actor=factories.system(world.project), customer_attributes={"city": True})
    assert "city" in catalog_for_project(world.project.pk).customer_properties
    catalog_invalidate(world.project.pk)
    assert catalog_for_project(world.project.pk).customer_properties == {
        "email",
        "phone",
        "first_name",
        "city",
    }


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    ],
)
def test_catalog_for_project_reads_the_database_each_time_with_a_per_process_cache(
    world: World, settings: Any, backend: str
) -> None:
    """Another process could not see this process's invalidation: no caching at all."""
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": f"masking-{uuid.uuid4().hex}"}}
    catalog_for_project(world.project.pk)
    with CaptureQueriesContext(connection) as queries:
        assert catalog_for_project(world.project.pk) == catalog_load(world.project.pk)
        reads = len(queries.captured_queries)
    with CaptureQueriesContext(connection) as loads:
        catalog_load(world.project.pk)
    assert reads == 2 * len(loads.captured_queries) > 0
