"""Reading one customer and exporting many: permissions, bad input, masking per key."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from access.models import AuditEvent
from tests import factories
from tests.conftest import (
    CANARIES,
    CANARY_ADDRESS,
    CANARY_EMAIL,
    CANARY_IP,
    CANARY_NAME,
    CANARY_PHONE,
    World,
    assert_no_canary,
)

from .conftest import ApiClient, body_text

pytestmark = pytest.mark.django_db

CANARY_IDS = {"customer_ids": {"registered": CANARY_EMAIL}}
MASK = "******"

READ_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("customers/export-one", CANARY_IDS),
    (
        "customers/attributes",
        {
            **CANARY_IDS,
            "attributes": [
                {"type": "property", "property": "email"},
                {"type": "property", "property": "phone"},
                {"type": "property", "property": "first_name"},
                {"type": "id", "id": "registered"},
                {"type": "id", "id": "cookie"},
            ],
        },
    ),
    ("customers/events", {**CANARY_IDS, "event_types": ["page_visit", "purchase"]}),
    ("customers/export", {"format": "native_json"}),
    ("customers/export", {"format": "table_json"}),
    ("customers/export", {"format": "csv"}),
]


@pytest.mark.parametrize(("path", "body"), READ_CALLS)
def test_full_key_sees_the_canaries_masked_key_never(
    world: World,
    full: ApiClient,
    masked: ApiClient,
    path: str,
    body: dict[str, Any],
    crm_id: dict[str, str],
) -> None:
    seen = body_text(full.post(path, body))
    assert any(c in seen for c in CANARIES), "the permitted key must see personal data"
    # The masked key may not look a customer up by a PII ID; it uses the non-PII one.
    r = masked.post(path, {**body, "customer_ids": crm_id} if "customer_ids" in body else body)
    assert r.status_code == 200
    text = body_text(r)
    assert_no_canary(text)
    assert MASK in text


def test_export_one_shape_and_masking(
    world: World, full: ApiClient, masked: ApiClient, crm_id: dict[str, str]
) -> None:
    body = full.post("customers/export-one", CANARY_IDS).json()
    assert body["success"] is True
    assert body["ids"] == {
        "registered": CANARY_EMAIL,
        "cookie": ["ck-canary-1"],
        "crm_id": ["crm-canary-1"],
    }
    assert body["properties"]["phone"] == CANARY_PHONE
    assert [(e["type"], e["timestamp"]) for e in body["events"]] == [
        ("page_visit", 1_700_000_000.0),
        ("purchase", 1_700_000_001.0),
    ]
    assert body["events"][1]["properties"]["shipping_address"] == CANARY_ADDRESS

    body = masked.post("customers/export-one", {"customer_ids": crm_id}).json()
    assert body["ids"] == {"registered": MASK, "cookie": [MASK], "crm_id": ["crm-canary-1"]}
    assert body["properties"] == {
        "email": MASK,
        "phone": MASK,
        "first_name": MASK,
        "city": "Bratislava",
        "plan": "premium",
    }
    assert body["events"][0]["properties"] == {
        "url": "https://shop.example.com/sale",
        "ip": MASK,
    }
    assert body["events"][1]["properties"] == {
        "total": 42.5,
        "shipping_address": MASK,
        "items": ["Backpack"],
    }


def test_attributes_answer_per_attribute(
    world: World, full: ApiClient, masked: ApiClient, crm_id: dict[str, str]
) -> None:
    attributes = [
        {"type": "property", "property": "first_name"},
        {"type": "property", "property": "plan"},
        {"type": "property", "property": "never_tracked"},
        {"type": "id", "id": "registered"},
        {"type": "segmentation", "id": "abc"},
        {"type": "id", "id": "shoe_size"},
        "junk",
    ]
    body = full.post("customers/attributes", {**CANARY_IDS, "attributes": attributes}).json()
    results = body["results"]
    assert results[:4] == [
        {"success": True, "value": CANARY_NAME},
        {"success": True, "value": "premium"},
        {"success": True, "value": None},
        {"success": True, "value": CANARY_EMAIL},
    ]
    assert [r["success"] for r in results[4:]] == [False, False, False]
    assert all(isinstance(r["error"], str) for r in results[4:])
    masked_results = masked.post(
        "customers/attributes", {"customer_ids": crm_id, "attributes": attributes}
    ).json()["results"]
    # Decision: a PII attribute is answered masked, as on every other endpoint.
    assert masked_results[:4] == [
        {"success": True, "value": MASK},
        {"success": True, "value": "premium"},
        {"success": True, "value": None},
        {"success": True, "value": MASK},
    ]


def test_events_types_order_limit_skip(
    world: World, full: ApiClient, masked: ApiClient, crm_id: dict[str, str]
) -> None:
    ids = {"registered": CANARY_EMAIL}
    from customers.services import event_track

    for i in range(5):
        event_track(
            actor=factories.system(world.project),
            ids=ids,
            event_type="page_visit",
            timestamp=1_800_000_000 + i,
            properties={"n": i, "ip": CANARY_IP},
        )
    body = full.post(
        "customers/events",
        {
            "customer_ids": ids,
            "event_types": ["page_visit"],
            "order": "desc",
            "limit": 2,
            "skip": 1,
        },
    ).json()
    assert [e["properties"]["n"] for e in body["data"]] == [3, 2]
    assert body["data"][0]["properties"]["ip"] == CANARY_IP
    body = masked.post(
        "customers/events", {"customer_ids": crm_id, "event_types": ["purchase", "page_visit"]}
    ).json()
    assert [e["type"] for e in body["data"]] == ["page_visit", "purchase"] + ["page_visit"] * 5
    assert [e["timestamp"] for e in body["data"]] == sorted(e["timestamp"] for e in body["data"])
    assert {e["properties"].get("ip") for e in body["data"] if e["type"] == "page_visit"} == {MASK}
    assert full.post(
        "customers/events", {"customer_ids": ids, "event_types": ["nothing"]}
    ).json() == {
        "success": True,
        "data": [],
    }


BAD_READS: list[tuple[str, Any, int]] = [
    ("customers/export-one", {"customer_ids": {"registered": "nobody@x.test"}}, 404),
    ("customers/export-one", {"customer_ids": {}}, 400),
    ("customers/export-one", {"customer_ids": {"shoe_size": "4"}}, 400),
    ("customers/export-one", {}, 400),
    ("customers/export-one", [], 400),
    ("customers/attributes", {**CANARY_IDS}, 400),
    ("customers/attributes", {**CANARY_IDS, "attributes": {"type": "id"}}, 400),
    ("customers/attributes", {"customer_ids": {"cookie": "nope"}, "attributes": []}, 404),
    ("customers/events", {**CANARY_IDS}, 400),
    ("customers/events", {**CANARY_IDS, "event_types": []}, 400),
    ("customers/events", {**CANARY_IDS, "event_types": [1]}, 400),
    ("customers/events", {**CANARY_IDS, "event_types": ["v"], "order": "sideways"}, 400),
    ("customers/events", {**CANARY_IDS, "event_types": ["v"], "limit": 0}, 400),
    ("customers/events", {**CANARY_IDS, "event_types": ["v"], "limit": "5"}, 400),
    ("customers/events", {**CANARY_IDS, "event_types": ["v"], "skip": -1}, 400),
    ("customers/events", {**CANARY_IDS, "event_types": ["v"], "skip": 10**30}, 400),
    ("customers/export", {"format": "xlsx"}, 400),
    ("customers/export", {"attributes": []}, 400),
    ("customers/export", {"attributes": [{"type": "id", "id": "shoe_size"}]}, 400),
    ("customers/export", {"attributes": [{"type": "expression"}]}, 400),
    ("customers/export", {"filter": "plan=premium"}, 400),
    (
        "customers/export",
        {"filter": {"conditions": [{"attribute": "plan", "operator": "??"}]}},
        400,
    ),
]


@pytest.mark.parametrize(("path", "body", "status"), BAD_READS)
def test_bad_reads_answer_4xx_in_exponea_shape(
    world: World, full: ApiClient, path: str, body: Any, status: int
) -> None:
    audits = AuditEvent.objects.count()
    r = full.post(path, body)
    assert r.status_code == status
    payload = r.json()
    assert payload["success"] is False and all(isinstance(e, str) for e in payload["errors"])
    assert_no_canary(json.dumps(payload))
    assert AuditEvent.objects.count() == audits  # a refused export is not recorded as done


@pytest.mark.parametrize(
    ("path", "needs"),
    [
        ("customers/export-one", "read_customers"),
        ("customers/attributes", "read_customers"),
        ("customers/events", "read_customers"),
        ("customers/export", "export_customers"),
    ],
)
def test_reading_needs_its_permission(world: World, api_for: Any, path: str, needs: str) -> None:
    tracker = factories.make_key(world.project, "track", "view_personal_data", name="Tracker")
    body = {**CANARY_IDS, "attributes": [], "event_types": ["purchase"]}
    r = api_for(tracker).post(path, body)
    assert r.status_code == 403
    assert r.json() == {
        "success": False,
        "errors": [f"This API key lacks the '{needs}' permission."],
    }


def test_export_needs_read_customers_too(world: World, api_for: Any) -> None:
    exporter = factories.make_key(world.project, "export_customers", name="Export only")
    r = api_for(exporter).post("customers/export", {})
    assert r.status_code == 403 and r.json()["success"] is False


def test_foreign_project_customer_is_not_found(world: World, api_for: Any) -> None:
    other_key = factories.make_key(
        world.other_project, "read_customers", "view_personal_data", name="Other"
    )
    factories.track_customer(world.other_project, {"registered": "o@x.test"}, {"plan": "x"})
    client = api_for(other_key, str(world.other_project.token))
    r = client.post("customers/export-one", CANARY_IDS)
    assert r.status_code == 404
    assert_no_canary(r.content.decode())
    r = api_for(world.full_key).post(
        "customers/export-one", {"customer_ids": {"registered": "o@x.test"}}
    )
    assert r.status_code == 404


# Export -----------------------------------------------------------------------------------------


def test_export_native_json_matches_the_sdk_shape(world: World, full: ApiClient) -> None:
    factories.track_customer(world.project, {"registered": "second@x.test"}, {"plan": "free"})
    r = full.post(
        "customers/export",
        {
            "format": "native_json",
            "attributes": {
                "type": "list",
                "list": [
                    {"type": "id", "id": "registered"},
                    {"type": "property", "property": "plan"},
                    {"type": "property", "property": "first_name"},
                ],
            },
        },
    )
    assert r.status_code == 200 and r.streaming
    assert r["Content-Type"] == "application/json"
    body = json.loads(body_text(r))
    assert body["fields"] == [
        {"type": "id", "id": "registered"},
        {"type": "property", "property": "plan"},
        {"type": "property", "property": "first_name"},
    ]
    assert body["data"] == [[CANARY_EMAIL, "premium", CANARY_NAME], ["second@x.test", "free", None]]


def test_export_csv_with_filter_and_audit(world: World, full: ApiClient, masked: ApiClient) -> None:
    factories.track_customer(world.project, {"registered": "second@x.test"}, {"plan": "free"})
    body = {
        "format": "csv",
        "attributes": [
            {"type": "id", "id": "registered"},
            {"type": "property", "property": "plan"},
        ],
        "filter": {"conditions": [{"attribute": "plan", "operator": "equals", "value": "premium"}]},
    }
    r = masked.post("customers/export", body)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(body_text(r))))
    assert rows == [["registered", "plan"], [MASK, "premium"]]
    r = full.post("customers/export", body)
    assert list(csv.reader(io.StringIO(body_text(r))))[1] == [CANARY_EMAIL, "premium"]
    audit = AuditEvent.objects.filter(action="customers.export").order_by("id")
    assert audit.count() == 2
    first = audit.first()
    assert first is not None and first.actor_api_key == world.masked_key.key
    assert first.details["columns"] == ["registered", "plan"]
    assert first.details["filter_attributes"] == ["plan"]
    assert first.details["personal_data"] is False
    assert "premium" not in json.dumps(first.details)  # a filter value is never audited


@pytest.mark.parametrize("attribute", ["email", "registered", "phone"])
def test_masked_key_may_not_filter_an_export_by_pii(
    world: World, full: ApiClient, masked: ApiClient, attribute: str
) -> None:
    body = {"filter": {"conditions": [{"attribute": attribute, "operator": "exists"}]}}
    r = masked.post("customers/export", body)
    assert r.status_code == 403
    payload = r.json()
    assert payload["success"] is False and attribute in payload["errors"][0]
    assert_no_canary(r.content.decode())
    # The key with Personal data may, and finds the canary customer.
    r = full.post("customers/export", {**body, "format": "csv"})
    assert r.status_code == 200
    assert any(c in body_text(r) for c in CANARIES)


@pytest.mark.parametrize("export_format", ["native_json", "table_json"])
def test_export_streams_many_customers_in_chunks(
    world: World, full: ApiClient, monkeypatch: pytest.MonkeyPatch, export_format: str
) -> None:
    from customers.services import export_engine

    # Chunks of 3 customers (SQLite) and a block per row (both): the JSON array is joined
    # across blocks.
    monkeypatch.setattr(export_engine, "EXPORT_CHUNK_SIZE", 3)
    monkeypatch.setattr(export_engine, "ROWS_PER_BLOCK", 1)
    for i in range(7):
        factories.track_customer(world.project, {"registered": f"s{i}@x.test"}, {"i": i})
    r = full.post(
        "customers/export",
        {"attributes": [{"type": "property", "property": "i"}], "format": export_format},
    )
    assert len(list(r.streaming_content)) >= 9  # the head, 8 rows, the tail
    r = full.post(
        "customers/export",
        {"attributes": [{"type": "property", "property": "i"}], "format": export_format},
    )
    body = json.loads(body_text(r))
    data = body["data"] if export_format == "native_json" else body["rows"]
    assert data == [[None]] + [[i] for i in range(7)]
