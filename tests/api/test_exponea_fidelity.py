"""Exponea's documented request bodies and error answers (issue 15, items 2, 3 and 5).

Every body here is quoted from ../shared/EXPONEA_API.md (Bloomreach Engagement's reference
pages and the exponea-python-sdk 0.2.0 source); docs/api-compatibility.md lists each case
with its source.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from customers.models import Customer, CustomerId, Event
from tests import factories
from tests.conftest import CANARY_EMAIL, CANARY_NAME, World, assert_no_canary

from .conftest import ApiClient, body_text

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NOON_TS = NOON.timestamp()
MASK = "******"


def _events_of(email: str) -> list[Event]:
    owner = CustomerId.objects.get(name="registered", value=email).customer
    return list(Event.objects.filter(customer=owner).order_by("id"))


def _customer(email: str) -> Customer:
    return CustomerId.objects.get(name="registered", value=email).customer


# Item 2: timestamps ------------------------------------------------------------------------

TIMESTAMP_FORMS = [
    (NOON_TS, NOON_TS),
    (int(NOON_TS), NOON_TS),
    (NOON_TS + 0.25, NOON_TS + 0.25),
    ("2026-11-30T12:00:00Z", NOON_TS),
    ("2026-11-30T12:00:00.250Z", NOON_TS + 0.25),
    ("2026-11-30T13:00:00+01:00", NOON_TS),
    ("2026-11-30T07:00:00-05:00", NOON_TS),
    ("2026-11-30T12:00:00", NOON_TS),  # no offset: UTC
]

BAD_TIMESTAMPS = [
    "yesterday",
    "1796040000",  # a number in a string is neither form
    "2026-11-30",  # a date without a time
    "2026-13-30T12:00:00Z",
    "2026-11-30T25:00:00Z",
    "",
    True,
    [NOON_TS],
    {"seconds": NOON_TS},
    -1,
    "2200-01-01T00:00:00Z",
]


@pytest.mark.parametrize(("sent", "seconds"), TIMESTAMP_FORMS)
def test_event_timestamp_number_or_iso(full: ApiClient, sent: Any, seconds: float) -> None:
    body = {
        "customer_ids": {"registered": "ts@x.test"},
        "event_type": "purchase",
        "timestamp": sent,
        "properties": {"total": 1},
    }
    r = full.track("customers/events", body)
    assert r.status_code == 200, r.content
    assert r.json() == {"errors": [], "success": True}
    (event,) = _events_of("ts@x.test")
    assert event.timestamp.timestamp() == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(("sent", "seconds"), TIMESTAMP_FORMS[3:])
def test_batch_event_timestamp_iso(full: ApiClient, sent: str, seconds: float) -> None:
    command = {
        "name": "customers/events",
        "command_id": "e1",
        "data": {
            "customer_ids": {"registered": "ts@x.test"},
            "event_type": "purchase",
            "timestamp": sent,
        },
    }
    r = full.track("batch", {"commands": [command]})
    assert r.status_code == 200
    assert r.json()["results"][0]["success"] is True
    (event,) = _events_of("ts@x.test")
    assert event.timestamp.timestamp() == pytest.approx(seconds, abs=1e-6)


def test_update_timestamp_iso_keeps_the_newer_value(full: ApiClient) -> None:
    ids = {"registered": "ts@x.test"}

    def update(plan: str, stamp: Any) -> None:
        body = {"customer_ids": ids, "properties": {"plan": plan}, "update_timestamp": stamp}
        r = full.track("customers", body)
        assert r.status_code == 200 and r.json() == {"errors": [], "success": True}

    update("noon", "2026-11-30T12:00:00Z")
    update("older", "2026-11-30T12:30:00+01:00")  # 11:30 UTC: older, ignored
    assert _customer("ts@x.test").properties["plan"] == "noon"
    update("later", "2026-11-30T12:00:01")  # no offset: UTC, one second later
    assert _customer("ts@x.test").properties["plan"] == "later"
    update("numeric-older", NOON_TS)
    assert _customer("ts@x.test").properties["plan"] == "later"


@pytest.mark.parametrize("bad", BAD_TIMESTAMPS)
def test_bad_event_timestamp_is_a_400_naming_the_field(full: ApiClient, bad: Any) -> None:
    body = {"customer_ids": {"registered": "bad@x.test"}, "event_type": "purchase"}
    r = full.track("customers/events", {**body, "timestamp": bad})
    assert r.status_code == 400
    payload = r.json()
    assert payload["success"] is False and len(payload["errors"]) == 1
    assert payload["errors"][0].startswith("timestamp ")
    assert not CustomerId.objects.filter(value="bad@x.test").exists()  # no partial write


@pytest.mark.parametrize("bad", BAD_TIMESTAMPS)
def test_bad_update_timestamp_is_a_400_naming_the_field(full: ApiClient, bad: Any) -> None:
    body = {"customer_ids": {"registered": "bad@x.test"}, "properties": {"plan": "x"}}
    r = full.track("customers", {**body, "update_timestamp": bad})
    assert r.status_code == 400
    assert r.json()["errors"][0].startswith("update_timestamp ")
    assert not CustomerId.objects.filter(value="bad@x.test").exists()


def test_batch_bad_timestamp_is_a_per_command_error(full: ApiClient) -> None:
    commands = [
        {
            "name": "customers",
            "data": {
                "customer_ids": {"registered": "ok@x.test"},
                "properties": {"plan": "a"},
                "update_timestamp": "2026-11-30T12:00:00Z",
            },
        },
        {
            "name": "customers/events",
            "command_id": "bad",
            "data": {
                "customer_ids": {"registered": "ok@x.test"},
                "event_type": "purchase",
                "timestamp": "tomorrow",
            },
        },
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "ok@x.test"}, "update_timestamp": "noon"},
        },
    ]
    r = full.track("batch", {"commands": commands})
    assert r.status_code == 200
    ok, bad_event, bad_update = r.json()["results"]
    assert ok["success"] is True
    assert bad_event["success"] is False and bad_event["errors"][0].startswith("timestamp ")
    assert bad_update["success"] is False
    assert bad_update["errors"][0].startswith("update_timestamp ")
    assert _customer("ok@x.test").properties == {"plan": "a"}
    assert _events_of("ok@x.test") == []


# Item 3: export all customers as documented --------------------------------------------------

SOME = {
    "type": "some",
    "list": [
        {"type": "id", "id": "registered"},
        {"type": "property", "property": "plan"},
        {"type": "property", "property": "first_name"},
    ],
}


@pytest.fixture
def second(world: World) -> Customer:
    return factories.track_customer(
        world.project, {"registered": "second@x.test"}, {"plan": "free"}
    )


def test_export_documented_body_csv(full: ApiClient, second: Customer) -> None:
    body = {
        "format": "csv",
        "attributes": SOME,
        "filter": {"type": "all"},
        "execution_time": int(time.time()),
        "timezone": "Europe/Prague",
    }
    r = full.post("customers/export", body)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert r["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(body_text(r))))
    assert rows == [
        ["registered", "plan", "first_name"],
        [CANARY_EMAIL, "premium", CANARY_NAME],
        ["second@x.test", "free", ""],
    ]


def test_export_table_json(full: ApiClient, masked: ApiClient, second: Customer) -> None:
    body = {"format": "table_json", "attributes": SOME, "filter": {"type": "all"}}
    r = full.post("customers/export", body)
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert json.loads(body_text(r)) == {
        "success": True,
        "header": ["registered", "plan", "first_name"],
        "rows": [[CANARY_EMAIL, "premium", CANARY_NAME], ["second@x.test", "free", None]],
    }
    text = body_text(masked.post("customers/export", body))
    assert_no_canary(text)
    assert json.loads(text)["rows"] == [[MASK, "premium", MASK], [MASK, "free", None]]


def test_export_native_json_the_sdk_body(full: ApiClient, second: Customer) -> None:
    # exponea_python_sdk/customer.py get_customers: payload = {'format': 'native_json'}
    r = full.post("customers/export", {"format": "native_json"})
    assert r.status_code == 200
    payload = json.loads(body_text(r))
    assert payload["success"] is True
    assert payload["fields"][:2] == [
        {"type": "id", "id": "registered"},
        {"type": "id", "id": "cookie"},
    ]
    assert {"type": "property", "property": "plan"} in payload["fields"]
    assert len(payload["data"]) == 2


def test_export_properties_and_ids(full: ApiClient, second: Customer) -> None:
    body = {"format": "table_json", "attributes": {"type": "properties_and_ids"}}
    payload = json.loads(body_text(full.post("customers/export", body)))
    # IDs (hard first, then by name), then properties by name.
    assert payload["header"] == [
        "registered",
        "cookie",
        "city",
        "email",
        "first_name",
        "phone",
        "plan",
    ]
    assert payload["rows"][0][:2] == [CANARY_EMAIL, ["ck-canary-1"]]
    assert payload["rows"][1][0] == "second@x.test"


def test_export_filter_all_and_our_filter_extension(full: ApiClient, second: Customer) -> None:
    base = {"format": "table_json", "attributes": {"type": "some", "list": SOME["list"][:1]}}
    everyone = json.loads(
        body_text(full.post("customers/export", {**base, "filter": {"type": "all"}}))
    )
    assert [row[0] for row in everyone["rows"]] == [CANARY_EMAIL, "second@x.test"]
    ours = {"conditions": [{"attribute": "plan", "operator": "equals", "value": "free"}]}
    narrowed = json.loads(body_text(full.post("customers/export", {**base, "filter": ours})))
    assert narrowed["rows"] == [["second@x.test"]]


def test_export_pii_filter_refusal_unchanged(masked: ApiClient) -> None:
    body = {
        "format": "csv",
        "attributes": {"type": "properties_and_ids"},
        "filter": {"conditions": [{"attribute": "email", "operator": "exists"}]},
    }
    r = masked.post("customers/export", body)
    assert r.status_code == 403 and "email" in r.json()["errors"][0]
    assert_no_canary(r.content.decode())


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"format": "xml"}, "format must be one of"),
        ({"format": "csv", "attributes": {"type": "all"}}, "attributes.type"),
        ({"format": "csv", "attributes": {"type": "some", "list": []}}, "attributes.list"),
        (
            {"format": "csv", "attributes": {"type": "some", "list": [{"type": "segment"}]}},
            "attributes.list[1].type",
        ),
        (
            {
                "format": "csv",
                "attributes": {
                    "type": "some",
                    "list": [{"type": "id", "id": "registered", "x": 1}],
                },
            },
            "attributes.list[1]: unknown key(s) 'x'",
        ),
        (
            {
                "format": "csv",
                "attributes": {
                    "type": "some",
                    "list": [{"type": "property", "property": CANARY_EMAIL}],
                },
            },
            "Column 1",
        ),
        (
            {
                "format": "csv",
                "filter": {"type": "segment", "segmentation_id": "s", "segment_index": 0},
            },
            "segment",
        ),
        ({"format": "csv", "filter": {"type": "everyone"}}, "filter.type"),
        ({"format": "csv", "execution_time": "soon"}, "execution_time"),
        (
            {"format": "csv", "execution_time": time.time() + 86400},
            "execution_time is in the future",
        ),
        ({"format": "csv", "timezone": "Mars/Olympus"}, "timezone"),
        ({"format": "csv", "timezone": 2}, "timezone"),
        ({"format": "csv", "segment": 1}, "unknown key(s) 'segment'"),
    ],
)
def test_export_bad_request_is_a_400_before_any_audit(
    world: World, full: ApiClient, body: dict[str, Any], needle: str
) -> None:
    from access.models import AuditEvent

    r = full.post("customers/export", body)
    assert r.status_code == 400
    payload = r.json()
    assert payload["success"] is False and needle in payload["errors"][0], payload
    assert CANARY_EMAIL not in r.content.decode()  # an unknown name is not echoed
    assert not AuditEvent.objects.filter(action="customers.export").exists()


def test_export_execution_time_iso_and_past_accepted(full: ApiClient) -> None:
    body = {"format": "table_json", "attributes": SOME, "execution_time": "2026-01-01T00:00:00Z"}
    r = full.post("customers/export", {**body, "timezone": "UTC"})
    assert r.status_code == 200
    assert json.loads(body_text(r))["rows"][0][0] == CANARY_EMAIL


# Item 5: authentication and errors as documented -----------------------------------------------


def _basic(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


def test_missing_credentials(world: World) -> None:
    r = Client().post(
        f"/track/v2/projects/{world.project.token}/customers",
        data="{}",
        content_type="application/json",
    )
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": "Access key not provided"}


@pytest.mark.parametrize("which", ["unknown key", "wrong secret"])
def test_unknown_key_and_wrong_secret_answer_alike(world: World, which: str) -> None:
    key_id = "nosuchkey0000" if which == "unknown key" else world.full_key.key.key_id
    r = Client().post(
        f"/track/v2/projects/{world.project.token}/customers",
        data=json.dumps({"customer_ids": {"registered": "a@x.test"}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=_basic(key_id, "not-the-secret"),
    )
    # Deliberately one answer for both (Exponea: 401 / 403): no oracle for key ids.
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": "Invalid API key or secret."}
    assert not CustomerId.objects.filter(value="a@x.test").exists()


def test_wrong_project_token_same_answer_for_other_project_and_unknown(
    world: World, api_for: Any
) -> None:
    body = {"customer_ids": {"registered": "a@x.test"}}
    other = api_for(world.full_key, token=str(world.other_project.token))
    unknown = api_for(world.full_key, token="00000000-0000-0000-0000-000000000000")
    garbage = api_for(world.full_key, token="not-a-token")
    answers = [c.track("customers", body) for c in (other, unknown, garbage)]
    assert {r.status_code for r in answers} == {404}
    assert {r.content for r in answers} == {b'{"success":false,"errors":["Project not found."]}'}
    assert not CustomerId.objects.filter(value="a@x.test").exists()


def test_empty_batch(full: ApiClient) -> None:
    r = full.track("batch", {"commands": []})
    assert r.status_code == 400
    assert r.json() == {"success": False, "errors": ["No commands"]}


def test_batch_documented_commands_and_per_command_errors(full: ApiClient) -> None:
    commands = [
        {
            "name": "customers",
            "command_id": "c1",
            "data": {"customer_ids": {"registered": "b@x.test"}, "properties": {"plan": "x"}},
        },
        {
            "name": "customers/events",
            "data": {
                "customer_ids": {"registered": "b@x.test"},
                "event_type": "purchase",
                "properties": {"total": 3},
                "timestamp": NOON_TS,
            },
        },
        {"name": "system/time"},
        {"name": "customers", "data": {"customer_ids": {}}},
        {"name": "no/such", "data": {}},
    ]
    r = full.track("batch", {"commands": commands})
    assert r.status_code == 200
    payload = r.json()
    assert payload["success"] is True and payload["start_time"] <= payload["end_time"]
    first, event, clock, no_ids, unknown = payload["results"]
    assert first == {"success": True, "command_id": "c1"}
    assert event == {"success": True}
    assert clock["success"] is True and abs(clock["time"] - time.time()) < 60
    assert no_ids["success"] is False and "customer_ids" in no_ids["errors"][0]
    assert unknown["success"] is False and "Unknown command" in unknown["errors"][0]
    assert len(_events_of("b@x.test")) == 1


def test_errors_list_empty_on_success(full: ApiClient) -> None:
    ids = {"registered": "s@x.test"}
    r = full.track("customers", {"customer_ids": ids, "properties": {"plan": "x"}})
    assert r.json() == {"errors": [], "success": True}
    r = full.track("customers/events", {"customer_ids": ids, "event_type": "visit"})
    assert r.json() == {"errors": [], "success": True}
    clock = full.get("system/time").json()  # SDK fixture test_system_time.json
    assert clock["errors"] == [] and clock["success"] is True
    assert isinstance(clock["time"], float)


UNKNOWN_API_PATHS = [
    "/track/v2/projects/whatever/no-such-endpoint",
    "/track/v2/projects/whatever/customers/",  # a trailing slash: no redirect, JSON
    "/data/v2/projects/whatever/customers/no-such-endpoint",
    "/data/v3/anything",
    "/track/",
]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", UNKNOWN_API_PATHS)
def test_unknown_api_path_is_json_also_with_debug(settings: Any, debug: bool, path: str) -> None:
    settings.DEBUG = debug
    for method in ("get", "post", "delete"):
        r = getattr(Client(), method)(path)
        assert r.status_code == 404, (method, path)
        assert r["Content-Type"] == "application/json"
        assert r.json() == {"success": False, "errors": ["Not found."]}


@pytest.mark.parametrize(
    ("method", "path", "area"),
    [
        # exponea_python_sdk/catalog.py and analyses.py
        ("get", "catalogs", "catalogs"),
        ("post", "catalogs", "catalogs"),
        ("get", "catalogs/5a1/items", "catalogs"),
        ("post", "analyses/report", "analyses"),
        ("post", "analyses/funnel", "analyses"),
        ("post", "analyses/segmentation", "analyses"),
    ],
)
def test_catalogs_and_analyses_are_out_of_scope(
    settings: Any, full: ApiClient, method: str, path: str, area: str
) -> None:
    settings.DEBUG = True
    r = getattr(full.client, method)(full.url(path), **full._headers())
    assert r.status_code == 501
    assert r["Content-Type"] == "application/json"
    assert r.json() == {
        "success": False,
        "errors": [
            f"The {area} API is out of scope here: this service manages customer data "
            "(tracking, customers, GDPR) only."
        ],
    }
