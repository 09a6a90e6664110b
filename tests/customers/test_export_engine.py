"""One export engine: every path and format returns the same masked data for the same request.

The page's CSV download, the API's ``csv``, ``native_json`` and ``table_json`` all go through
``customers.services.export_engine``; on PostgreSQL the database writes the rows (COPY), on
SQLite a Python loop does. Run on both: the expected bytes below are the same literal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from accountability.models import PersonalDataAccess
from customers.filters import CustomerFilter
from customers.services.export_engine import (
    ExportField,
    ExportFormat,
    ExportRequest,
    ExportVia,
    customers_export,
)
from datamanager.masking import MASK, Masker
from datamanager.services import pii_flags_set

from .. import factories
from ..conftest import CANARY_EMAIL, CANARY_NAME, World, assert_no_canary

# Attribute names are user data: quotes, backslashes, a JSON path, SQL, a placeholder.
ODD_NAME = "we\"ird\\ na'me $[0] %s; --"
ODD_PII = "ñamé€ ✓"
VALUES: dict[str, Any] = {
    "plan": '=HYPERLINK("http://x.test")',
    "note": "@SUM(A1)",
    "tabbed": "\tcmd",
    "phone_like": "+421 900 111 222",
    "negative": -12.5,
    "minus_text": "-1+1",
    "comma": 'a, "quoted"\nline',
    "empty": "",
    "flag": True,
    "count": 7,
    "ratio": 0.25,
    "nested": {"zz": 1, "a": {"yy": [1, "x"], "b": None}},
    "items": ["=1+1", 2],
    ODD_NAME: "odd value",
    ODD_PII: "Pii-odd-c4",
}
PROPERTIES = [*VALUES, "first_name", "email", "city"]
IDS = ["registered", "cookie"]


def formula_guarded(text: str) -> str:
    """The guard, written out independently of the code under test."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(
        r"[+-]?[0-9][0-9 ().-]*", text
    ):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return formula_guarded(
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    )


@pytest.fixture
def shop(world: World) -> World:
    factories.track_customer(world.project, {"cookie": "ck-odd-1"}, VALUES)
    # A second cookie for the canary customer: a soft ID with two values.
    factories.track_customer(world.project, {"registered": CANARY_EMAIL, "cookie": "ck-canary-2"})
    pii_flags_set(actor=factories.system(world.project), customer_attributes={ODD_PII: True})
    return world


def page_csv(user: Any, project: Any, query: str = "") -> list[list[str]]:
    client = Client()
    client.force_login(user)
    token = project.token
    client.post(reverse("customers:columns", kwargs={"token": token}), {"column": PROPERTIES})
    response: Any = client.get(reverse("customers:export_csv", kwargs={"token": token}) + query)
    assert response.status_code == 200 and response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def api_export(
    key: Any,
    project: Any,
    export_format: str,
    filter_: Any = None,
    ids: list[str] = IDS,
    properties: list[str] = PROPERTIES,
) -> str:
    attributes = [{"type": "id", "id": n} for n in ids] + [
        {"type": "property", "property": n} for n in properties
    ]
    body: dict[str, Any] = {"format": export_format, "attributes": attributes}
    if filter_ is not None:
        body["filter"] = filter_
    response: Any = Client().post(
        f"/data/v2/projects/{project.token}/customers/export",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=key.basic,
    )
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("masked", [True, False], ids=["without-personal-data", "with"])
def test_every_path_and_format_returns_the_same_masked_data(shop: World, masked: bool) -> None:
    user, key = (shop.marketer, shop.masked_key) if masked else (shop.admin, shop.full_key)
    page = page_csv(user, shop.project)
    assert page[0][:3] == ["internal_id", *IDS]
    page_rows = [row[1:] for row in page]  # the page adds our internal id first
    api_csv = list(csv.reader(io.StringIO(api_export(key, shop.project, "csv"))))
    assert page_rows == api_csv
    native = json.loads(api_export(key, shop.project, "native_json"))
    table = json.loads(api_export(key, shop.project, "table_json"))
    assert native["success"] is True and table["success"] is True
    assert table["header"] == api_csv[0] == [*IDS, *PROPERTIES]
    assert [f.get("id") or f.get("property") for f in native["fields"]] == table["header"]
    assert native["data"] == table["rows"]
    # Each CSV cell is its JSON value's text (strings as they are), formula-guarded.
    assert [[csv_cell(v) for v in row] for row in native["data"]] == api_csv[1:]

    rows = [dict(zip(table["header"], row, strict=True)) for row in table["rows"]]
    canary = next(r for r in rows if r["first_name"] in (CANARY_NAME, MASK))
    odd = next(r for r in rows if r["count"] == 7)
    if masked:
        assert_no_canary(json.dumps(table) + str(page))
        assert canary["registered"] == canary["email"] == MASK
        assert canary["cookie"] == [MASK]  # a soft ID: one mask for its two values
        assert odd[ODD_PII] == MASK and odd["cookie"] == [MASK]
        assert "Pii-odd-c4" not in json.dumps(native)
    else:
        assert canary["registered"] == CANARY_EMAIL
        assert canary["cookie"] == ["ck-canary-1", "ck-canary-2"]  # a soft ID: its values
        assert odd[ODD_PII] == "Pii-odd-c4" and odd["cookie"] == ["ck-odd-1"]
    # What is not PII is the same for both, raw in JSON (no guard there).
    assert {k: odd[k] for k in VALUES if k != ODD_PII} == {
        k: v for k, v in VALUES.items() if k != ODD_PII
    }
    assert odd["registered"] is None and canary["city"] == "Bratislava"


def test_formula_guard_on_every_csv_path_and_never_in_json(shop: World) -> None:
    page = page_csv(shop.admin, shop.project)
    api = list(csv.reader(io.StringIO(api_export(shop.full_key, shop.project, "csv"))))
    for table in ([row[1:] for row in page], api):
        header = table[0]
        odd = next(
            dict(zip(header, r, strict=True)) for r in table[1:] if r[header.index("count")] == "7"
        )
        assert odd["plan"] == '\'=HYPERLINK("http://x.test")'
        assert odd["note"] == "'@SUM(A1)"
        assert odd["tabbed"] == "'\tcmd"
        assert odd["minus_text"] == "'-1+1"
        # Numbers and phone numbers are left alone; lists start with "[" and are safe.
        assert odd["phone_like"] == "+421 900 111 222" and odd["negative"] == "-12.5"
        assert odd["items"] == '["=1+1", 2]'
        assert odd["comma"] == 'a, "quoted"\nline' and odd["empty"] == ""
        assert odd["nested"] == '{"a": {"b": null, "yy": [1, "x"]}, "zz": 1}'  # jsonb order
        assert odd[ODD_NAME] == "odd value"
    native = json.loads(api_export(shop.full_key, shop.project, "native_json"))
    plan = len(IDS) + PROPERTIES.index("plan")
    assert any(row[plan] == VALUES["plan"] for row in native["data"])


def test_identical_bytes_on_sqlite_and_postgresql(world: World) -> None:
    """One literal for both databases: PostgreSQL's COPY and SQLite's loop agree to the byte
    (CSV quoting, NULL vs empty string, jsonb key order, line ends)."""
    factories.track_customer(
        world.project,
        {"registered": "b@x.test", "cookie": "ck-b"},
        {"plan": "=cmd", "city": 'Qu"ote, town', "first_name": "", "nested": {"bb": 1, "a": 2}},
    )
    columns = (["registered", "cookie"], ["plan", "city", "first_name", "nested"])
    header = "registered,cookie,plan,city,first_name,nested\n"
    masked = api_export(world.masked_key, world.project, "csv", None, *columns)
    assert masked == header + (
        '******,"[""******""]",premium,Bratislava,******,\n'
        '******,"[""******""]",\'=cmd,"Qu""ote, town",******,"{""a"": 2, ""bb"": 1}"\n'
    )
    full = api_export(world.full_key, world.project, "csv", None, *columns)
    assert full == header + (
        f'{CANARY_EMAIL},"[""ck-canary-1""]",premium,Bratislava,{CANARY_NAME},\n'
        'b@x.test,"[""ck-b""]",\'=cmd,"Qu""ote, town","","{""a"": 2, ""bb"": 1}"\n'
    )
    table = api_export(world.full_key, world.project, "table_json", None, *columns)
    assert table == (
        '{"success": true, "header": ["registered", "cookie", "plan", "city", "first_name", '
        f'"nested"], "rows": [["{CANARY_EMAIL}", ["ck-canary-1"], "premium", "Bratislava", '
        f'"{CANARY_NAME}", null],["b@x.test", ["ck-b"], "=cmd", "Qu\\"ote, town", "", '
        '{"a": 2, "bb": 1}]]}'
    )


def test_access_log_one_entry_per_export_with_personal_data(shop: World) -> None:
    page_csv(shop.admin, shop.project)
    api_export(shop.full_key, shop.project, "table_json")
    entries = list(PersonalDataAccess.objects.order_by("id").values_list("view", "attribute_names"))
    assert [view for view, _ in entries] == ["customers.export_csv", "api.export"]
    assert {"email", "registered", ODD_PII} <= set(entries[0][1])
    page_csv(shop.marketer, shop.project)
    api_export(shop.masked_key, shop.project, "csv")
    assert PersonalDataAccess.objects.count() == 2  # nothing was shown: nothing to log
    audits = AuditEvent.objects.filter(action="customers.export").order_by("id")
    assert [(a.details["via"], a.details["format"]) for a in audits] == [
        ("page", "csv"),
        ("api", "table_json"),
        ("page", "csv"),
        ("api", "csv"),
    ]
    assert all(a.details["columns"][:2] == IDS for a in audits)


def test_a_filtered_export_narrows_rows_and_ids_alike(shop: World) -> None:
    filter_ = {"conditions": [{"attribute": "city", "operator": "equals", "value": "Bratislava"}]}
    table = json.loads(api_export(shop.full_key, shop.project, "table_json", filter_))
    assert len(table["rows"]) == 1
    assert table["rows"][0][:2] == [CANARY_EMAIL, ["ck-canary-1", "ck-canary-2"]]
    page = page_csv(shop.admin, shop.project, "?c=city:equals:Bratislava")
    assert [row[1:] for row in page[1:]] == [[csv_cell(v) for v in table["rows"][0]]]


def test_the_service_refuses_unknown_columns_without_echoing_them(world: World) -> None:
    from access.errors import InvalidInput

    principal = factories.principal_of(world.admin, world.project)
    for field in (ExportField.for_property("x@leak.test"), ExportField.for_property("cookie")):
        request = ExportRequest(CustomerFilter(), (field,), ExportFormat.CSV)
        with pytest.raises(InvalidInput) as refused:
            customers_export(actor=principal, request=request, via=ExportVia.API)
        assert "leak.test" not in str(refused.value)
    assert not AuditEvent.objects.filter(action="customers.export").exists()


# The leak hunt can fail on every export path -----------------------------------------------


def _plant_pass_through_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Masker.__init__

    def leaky_init(self: Masker, catalog: Any, *, can_see_personal_data: bool) -> None:
        original(self, catalog, can_see_personal_data=True)

    monkeypatch.setattr(Masker, "__init__", leaky_init)


@pytest.mark.parametrize("path", ["page csv", "csv", "native_json", "table_json"])
def test_a_pass_through_masker_is_caught_on_every_export_path(
    shop: World, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    def export() -> str:
        if path == "page csv":
            return str(page_csv(shop.marketer, shop.project))
        return str(api_export(shop.masked_key, shop.project, path))

    assert_no_canary(export())
    _plant_pass_through_masker(monkeypatch)
    leaked = export()
    assert CANARY_EMAIL in leaked and "Pii-odd-c4" in leaked


def test_an_export_abandoned_mid_stream_leaves_the_connection_usable(
    shop: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that disconnects closes the stream: PostgreSQL's COPY is cancelled, and the
    next query on the same connection works."""
    from customers.models import Customer
    from customers.services import export_engine

    monkeypatch.setattr(export_engine, "ROWS_PER_BLOCK", 1)
    principal = factories.principal_of(shop.admin, shop.project)
    fields = (ExportField.internal_id(), ExportField.for_property("city"))
    export = customers_export(
        actor=principal,
        request=ExportRequest(CustomerFilter(), fields, ExportFormat.CSV),
        via=ExportVia.PAGE,
    )
    assert next(export.blocks) == b"internal_id,city\n"
    assert next(export.blocks).endswith(b"\n")  # the COPY is running
    export.blocks.close()  # type: ignore[attr-defined]
    assert Customer.objects.filter(project=shop.project).count() == 2


def test_id_values_come_in_the_order_they_were_added_on_every_format(world: World) -> None:
    """A soft ID's values in id order (not by value), a hard ID's first value: PostgreSQL's
    aggregates take them from an id-ordered subquery, so this pins that order; the same
    literal on both databases."""
    factories.track_customer(world.project, {"registered": "o@x.test", "cookie": "zz-first"})
    factories.track_customer(world.project, {"registered": "o@x.test", "cookie": "mm-second"})
    factories.track_customer(world.project, {"registered": "o@x.test", "cookie": "aa-third"})
    columns = (["cookie", "registered"], ["plan"])
    full_csv = api_export(world.full_key, world.project, "csv", None, *columns)
    assert full_csv.splitlines()[-1] == ('"[""zz-first"", ""mm-second"", ""aa-third""]",o@x.test,')
    native = json.loads(api_export(world.full_key, world.project, "native_json", None, *columns))
    assert native["data"][-1] == [["zz-first", "mm-second", "aa-third"], "o@x.test", None]
    masked = json.loads(api_export(world.masked_key, world.project, "table_json", None, *columns))
    assert masked["rows"][-1] == [[MASK], MASK, None]
