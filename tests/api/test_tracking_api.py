"""The tracking API: what a script sends, what it gets back, what the database then holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, CustomerId, Event
from datamanager.models import CustomerAttribute, EventType
from tests import factories
from tests.conftest import World

from .conftest import ApiClient

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int]:
    return Customer.objects.count(), CustomerId.objects.count(), Event.objects.count()


def customer_of(project: Any, name: str, value: str) -> Customer:
    return CustomerId.objects.get(project=project, name=name, value=value).customer


# Single commands ---------------------------------------------------------------------------


def test_update_customer_properties_creates_and_updates(world: World, full: ApiClient) -> None:
    r = full.track(
        "customers",
        {"customer_ids": {"registered": "new@x.test"}, "properties": {"plan": "gold", "n": 1}},
    )
    assert r.status_code == 200 and r.json() == {"errors": [], "success": True}
    customer = customer_of(world.project, "registered", "new@x.test")
    assert customer.properties == {"plan": "gold", "n": 1}
    r = full.track(
        "customers",
        {
            "customer_ids": {"registered": "new@x.test"},
            "properties": {"plan": "old"},
            "update_timestamp": 1,  # older than what is stored: ignored, as Exponea
        },
    )
    assert r.status_code == 200
    customer.refresh_from_db()
    assert customer.properties["plan"] == "gold"


def test_add_event_with_timestamp_in_seconds(world: World, full: ApiClient) -> None:
    r = full.track(
        "customers/events",
        {
            "customer_ids": {"registered": "ev@x.test"},
            "event_type": "purchase",
            "timestamp": 1_700_000_123.5,
            "properties": {"total": 10},
        },
    )
    assert r.status_code == 200 and r.json() == {"errors": [], "success": True}
    event = Event.objects.get(customer=customer_of(world.project, "registered", "ev@x.test"))
    assert event.timestamp.timestamp() == 1_700_000_123.5
    assert event.event_type.name == "purchase" and event.properties == {"total": 10}


def test_system_time_is_seconds_for_any_key_of_the_project(world: World, api_for: Any) -> None:
    reader = factories.make_key(world.project, "read_customers", name="Reader only")
    r = api_for(reader).get("system/time")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and 1.7e9 < body["time"] < 4.1e9


# Batch -----------------------------------------------------------------------------------------


def test_batch_answers_per_command_and_one_bad_command_fails_only_itself(
    world: World, full: ApiClient
) -> None:
    commands = [
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "b1@x.test"}, "properties": {"a": 1}},
        },
        {"name": "customers/events", "data": {"customer_ids": {"registered": "b1@x.test"}}},
        {"name": "system/time"},
        {
            "name": "customers/events",
            "data": {
                "customer_ids": {"registered": "b1@x.test", "cookie": "c-b1"},
                "event_type": "view",
                "timestamp": 1_700_000_000,
            },
            "command_id": "x-7",
        },
        {"name": "nope", "data": {}},
        "not an object",
        {"name": "customers", "data": {"customer_ids": {"unknown_id": "1"}}},
    ]
    r = full.track("batch", {"commands": commands})
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and body["start_time"] <= body["end_time"]
    results = body["results"]
    assert len(results) == len(commands)
    assert results[0] == {"success": True}
    assert results[1]["success"] is False and "event_type" in results[1]["errors"][0]
    assert results[2]["success"] is True and results[2]["time"] > 1.7e9
    assert results[3] == {"success": True, "command_id": "x-7"}
    assert [res["success"] for res in results[4:]] == [False, False, False]
    customer = customer_of(world.project, "registered", "b1@x.test")
    assert customer.properties == {"a": 1}
    assert set(customer.external_ids.values_list("name", "value")) == {
        ("registered", "b1@x.test"),
        ("cookie", "c-b1"),
    }
    assert list(Event.objects.filter(customer=customer).values_list("event_type__name")) == [
        ("view",)
    ]


def test_batch_merges_a_cookie_visitor_who_logs_in(world: World, full: ApiClient) -> None:
    """The rare path inside a batch (merge) gives the same result as single commands."""
    commands = [
        {
            "name": "customers/events",
            "data": {"customer_ids": {"cookie": "anon-9"}, "event_type": "view"},
        },
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "m@x.test"}, "properties": {"plan": "p"}},
        },
        {
            "name": "customers/events",
            "data": {
                "customer_ids": {"registered": "m@x.test", "cookie": "anon-9"},
                "event_type": "login",
            },
        },
        {
            "name": "customers",
            "data": {"customer_ids": {"cookie": "anon-9"}, "properties": {"utm": "mail"}},
        },
    ]
    r = full.track("batch", {"commands": commands})
    assert [res["success"] for res in r.json()["results"]] == [True] * 4
    customer = customer_of(world.project, "registered", "m@x.test")
    assert customer_of(world.project, "cookie", "anon-9").pk == customer.pk
    assert customer.properties == {"plan": "p", "utm": "mail"}
    assert sorted(
        Event.objects.filter(customer=customer).values_list("event_type__name", flat=True)
    ) == [
        "login",
        "view",
    ]
    assert Customer.objects.filter(project=world.project).count() == 2  # canary + this one


def test_batch_of_50_commands_takes_a_constant_number_of_queries(
    world: World, full: ApiClient
) -> None:
    def batch(offset: int) -> dict[str, Any]:
        return {
            "commands": [
                {
                    "name": "customers/events",
                    "data": {
                        "customer_ids": {"registered": f"q{(offset + i) % 30}@x.test"},
                        "event_type": "view",
                        "properties": {"i": i},
                    },
                }
                for i in range(50)
            ]
        }

    full.track("batch", batch(0))  # warm up: registers the names
    with CaptureQueriesContext(connection) as ctx:
        r = full.track("batch", batch(7))
    assert r.status_code == 200
    assert all(res["success"] for res in r.json()["results"])
    # auth, throttle-free cache, ids, match, catalog, customers, ids, events, savepoints...
    # key, ID names, catalog (3, remembered per process once committed), match, insert,
    # and the suppression check twice (before the write, and inside it once the customers
    # are locked: an erased person's hard ID is never written, issue 17).
    assert len(ctx.captured_queries) <= 13, [q["sql"][:80] for q in ctx.captured_queries]
    assert Event.objects.filter(event_type__name="view").count() == 100
    assert CustomerId.objects.filter(value__startswith="q").count() == 30


def test_catalog_discovery_is_remembered_once_committed(
    world: World, full: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    command = {
        "name": "customers/events",
        "data": {
            "customer_ids": {"registered": "r@x.test"},
            "event_type": "seen",
            "properties": {"k": 1},
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        full.track("batch", {"commands": [command]})
    with CaptureQueriesContext(connection) as ctx:
        r = full.track("batch", {"commands": [command] * 10})
    assert all(res["success"] for res in r.json()["results"])
    catalog_queries = [q for q in ctx.captured_queries if "datamanager_event" in q["sql"]]
    assert catalog_queries == []
    assert Event.objects.filter(event_type__name="seen").count() == 11
    # A new attribute of the same type is still discovered.
    command["data"]["properties"] = {"fresh": "yes"}  # type: ignore[index]
    full.track("batch", {"commands": [command]})
    assert (
        EventType.objects.get(project=world.project, name="seen")
        .attributes.filter(name="fresh")
        .exists()
    )


def test_batch_limits(world: World, full: ApiClient) -> None:
    command = {"name": "system/time"}
    assert full.track("batch", {"commands": [command] * 50}).status_code == 200
    r = full.track("batch", {"commands": [command] * 51})
    assert r.status_code == 413 and r.json()["success"] is False
    r = full.track("batch", {"commands": "all of them"})
    assert r.status_code == 400 and r.json()["success"] is False


# Bad input: clear 4xx, nothing written --------------------------------------------------------

BAD_BODIES = [
    ("customers", {"customer_ids": {}, "properties": {"a": 1}}, 400),
    ("customers", {"customer_ids": {"registered": ""}}, 400),
    ("customers", {"customer_ids": {"registered": ["x"]}}, 400),
    ("customers", {"customer_ids": {"shoe_size": "1"}}, 400),
    ("customers", {"customer_ids": {"registered": "z@x.test"}, "properties": "plan"}, 400),
    ("customers", {"customer_ids": {"registered": "z@x.test"}, "properties": {"cookie": "1"}}, 400),
    (
        "customers",
        {"customer_ids": {"registered": "z@x.test"}, "update_timestamp": "yesterday"},
        400,
    ),
    ("customers", {"customer_ids": {"registered": "z@x.test"}, "update_timestamp": 1e20}, 400),
    (
        "customers",
        {"customer_ids": {"registered": "z@x.test"}, "properties": {"big": "x" * 16384}},
        413,
    ),
    ("customers", {"customer_ids": {"registered": "z" * 2000}}, 413),
    ("customers/events", {"customer_ids": {"registered": "z@x.test"}}, 400),
    ("customers/events", {"customer_ids": {"registered": "z@x.test"}, "event_type": ""}, 400),
    ("customers/events", {"customer_ids": {"registered": "z@x.test"}, "event_type": 5}, 400),
    (
        "customers/events",
        {"customer_ids": {"registered": "z@x.test"}, "event_type": "v", "timestamp": True},
        400,
    ),
    (
        "customers/events",
        {"customer_ids": {"registered": "z@x.test"}, "event_type": "v", "timestamp": -5},
        400,
    ),
    ("customers/events", {"customer_ids": "z@x.test", "event_type": "v"}, 400),
    ("customers/events", [1, 2], 400),
    ("batch", {}, 400),
    ("batch", [], 400),
]


@pytest.mark.parametrize(("path", "body", "status"), BAD_BODIES)
def test_bad_bodies_answer_4xx_in_exponea_shape_and_write_nothing(
    world: World, full: ApiClient, path: str, body: Any, status: int
) -> None:
    before = counts(), CustomerAttribute.objects.count(), EventType.objects.count()
    r = full.track(path, body)
    assert r.status_code == status
    payload = r.json()
    assert (
        payload["success"] is False
        and payload["errors"]
        and all(isinstance(e, str) for e in payload["errors"])
    )
    assert (counts(), CustomerAttribute.objects.count(), EventType.objects.count()) == before
    # Messages name fields, never the values sent.
    assert "z@x.test" not in json.dumps(payload)


def test_property_value_just_under_16_kb_is_accepted(world: World, full: ApiClient) -> None:
    value = "x" * (16 * 1024 - 10)
    r = full.track(
        "customers", {"customer_ids": {"registered": "big@x.test"}, "properties": {"v": value}}
    )
    assert r.status_code == 200


def test_malformed_json_and_non_json(world: World, full: ApiClient) -> None:
    r = full.track("customers", None, raw=b'{"customer_ids": ')
    assert r.status_code == 400 and r.json() == {
        "success": False,
        "errors": ["Malformed JSON body."],
    }
    r = full.track("customers", None, raw=b'{"customer_ids": {"registered": "a"}, "x": NaN}')
    assert r.status_code == 400
    r = full.client.post(
        full.url("customers", api="track"),
        data="a=b",
        content_type="text/plain",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )
    assert r.status_code == 415 and r.json()["success"] is False
    assert counts() == (1, 2, 2)


def test_message_too_large_is_413_and_writes_nothing(
    world: World, full: ApiClient, settings: Any
) -> None:
    settings.EXPONEA_LIMITS = {**settings.EXPONEA_LIMITS, "MESSAGE_BYTES": 2048}
    body = {"customer_ids": {"registered": "y@x.test"}, "properties": {"p": "v" * 3000}}
    r = full.track("customers", body)
    assert r.status_code == 413 and r.json()["success"] is False
    assert counts() == (1, 2, 2)


# Authentication, permission, project scoping ---------------------------------------------------


def test_credentials_are_required_and_checked(world: World, api_for: Any) -> None:
    body = {"customer_ids": {"registered": "a@x.test"}}
    r = api_for(None).track("customers", body)
    assert r.status_code == 401 and r.json()["success"] is False and r.json()["error"]
    assert r["WWW-Authenticate"].startswith("Basic")
    wrong = factories.KeyCredentials(key=world.full_key.key, secret="not-the-secret")
    r = api_for(wrong).track("customers", body)
    assert r.status_code == 401 and set(r.json()) == {"success", "error"}
    r = api_for(None).client.post(
        api_for(None).url("customers", api="track"),
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer abc",
    )
    assert r.status_code == 401
    assert counts() == (1, 2, 2)


def test_revoked_key_is_refused(world: World, api_for: Any) -> None:
    from django.utils import timezone

    key = factories.make_key(world.project, "track", name="Old")
    key.key.revoked_at = timezone.now()
    key.key.save(update_fields=["revoked_at"])
    r = api_for(key).track("customers", {"customer_ids": {"registered": "a@x.test"}})
    assert r.status_code == 401
    assert counts() == (1, 2, 2)


@pytest.mark.parametrize(
    "path",
    ["customers", "customers/events", "batch"],
)
def test_tracking_needs_the_track_permission(world: World, api_for: Any, path: str) -> None:
    reader = factories.make_key(world.project, "read_customers", "view_personal_data", name="R")
    body: dict[str, Any] = {"customer_ids": {"registered": "p@x.test"}, "event_type": "v"}
    if path == "batch":
        body = {"commands": [{"name": "customers", "data": body}]}
    r = api_for(reader).track(path, body)
    assert r.status_code == 403
    assert r.json() == {"success": False, "errors": ["This API key lacks the 'track' permission."]}
    assert counts() == (1, 2, 2)


@pytest.mark.parametrize("token", ["other", "not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_malformed_or_foreign_project_answers_the_same_json_404(
    world: World, api_for: Any, token: str
) -> None:
    if token == "other":
        token = str(world.other_project.token)
    client = api_for(world.full_key, token)
    r = client.track("customers", {"customer_ids": {"registered": "f@x.test"}})
    assert r.status_code == 404
    assert r.json() == {"success": False, "errors": ["Project not found."]}
    assert client.get("system/time").json() == {"success": False, "errors": ["Project not found."]}
    assert counts() == (1, 2, 2)


def test_key_of_another_project_cannot_write_here(world: World, api_for: Any) -> None:
    other_key = factories.make_key(world.other_project, "track", name="Other")
    r = api_for(other_key).track("customers", {"customer_ids": {"registered": "o@x.test"}})
    assert r.status_code == 404
    assert counts() == (1, 2, 2)


# Throttling -------------------------------------------------------------------------------------


@override_settings(EXPONEA_API_THROTTLE_RATES={"track": "3/min", "data": None})
def test_throttled_per_key_with_retry_after(world: World, full: ApiClient, api_for: Any) -> None:
    for _ in range(3):
        assert full.get("system/time").status_code == 200
    r = full.get("system/time")
    assert r.status_code == 429
    assert r.json() == {"success": False, "errors": ["Too many requests."]}
    assert 1 <= int(r["Retry-After"]) <= 61
    # Another key has its own budget; the data scope is not throttled here.
    assert api_for(world.masked_key).get("system/time").status_code == 200
    r = full.post("customers/export-one", {"customer_ids": {"registered": "nobody@x.test"}})
    assert r.status_code == 404


def test_throttle_fails_open_when_the_cache_is_down(world: World, full: ApiClient) -> None:
    down = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with override_settings(CACHES=down, EXPONEA_API_THROTTLE_RATES={"track": "1/min"}):
        assert full.get("system/time").status_code == 200
        assert full.get("system/time").status_code == 200  # not counted, not refused
