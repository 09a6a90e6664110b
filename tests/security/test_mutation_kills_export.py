"""What a key without Personal data receives from the export engine, on both of its paths (issue 20).

``customers/services/export_engine.py`` decides masked output twice: in SQL (PostgreSQL's
``COPY``, :func:`copy_statement`) and in Python (SQLite's loop, :func:`_value` and
:func:`_csv_line`). The mutation run mutates it one change at a time against these tests,
so each export is read cell by cell against values written out here, for a key without
Personal data (one mask per PII property or ID, a masked soft ID as one ``["******"]``)
and for a key with it (every value as stored), in every format, whole and filtered; and
the Python loop, forced on PostgreSQL too, must give the same bytes as the ``COPY``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.db.models import F

import customers.services.export_engine as engine
from access.errors import InvalidInput
from access.models import Project
from access.principal import Principal
from customers.filters import CustomerFilter, customers_matching
from customers.models import Customer
from customers.services.export_engine import (
    ExportColumn,
    ExportField,
    ExportFormat,
    ExportRequest,
    ExportVia,
    column_plan,
    customers_export,
)
from datamanager.masking import MASK, Masker
from datamanager.services import attribute_declare, pii_flags_set
from tests import factories

FIELDS = (
    ExportField.internal_id(),
    ExportField.for_id("registered"),  # hard, PII
    ExportField.for_id("cookie"),  # soft, not PII
    ExportField.for_id("device"),  # soft, PII
    ExportField.for_property("email"),  # PII
    ExportField.for_property("age"),  # PII, a number
    ExportField.for_property("city"),
    ExportField.for_property("plan"),
    ExportField.for_property("tags"),
)
A_PROPERTIES: dict[str, Any] = {
    "email": "a-canary@leak.test",
    "age": 0,
    "city": "Brno",
    "plan": "=cmd()",
    "tags": ["x", 1],
}
B_PROPERTIES: dict[str, Any] = {"city": "Nitra", "plan": "+421 900 111"}
BY_CITY = {"conditions": [{"attribute": "city", "operator": "equals", "value": "Brno"}]}


class Shop:
    def __init__(self, project: Project, a: int, b: int) -> None:
        self.project = project
        self.a, self.b = a, b
        perms = ("read_customers", "export_customers")
        self.masked = factories.make_key(project, *perms, name="Masked").principal
        self.full = factories.make_key(project, *perms, "view_personal_data", name="Full").principal

    def rows(self, masked: bool, *, narrowed: bool = False) -> list[list[Any]]:
        """The expected JSON values of each row, in customer id order."""
        m = masked
        a = [
            self.a,
            MASK if m else "a-canary@leak.test",
            ["ck-a1", "ck-a2"],
            [MASK] if m else ["dev-a1", "dev-a2"],
            MASK if m else "a-canary@leak.test",
            MASK if m else 0,
            "Brno",
            "=cmd()",
            ["x", 1],
        ]
        b = [self.b, None, ["ck-b"], None, None, None, "Nitra", "+421 900 111", None]
        return [a] if narrowed else [a, b]


@pytest.fixture
def shop(db: Any) -> Shop:
    project = factories.make_project("Export shop")
    actor = factories.system(project)
    attribute_declare(actor=actor, name="device", kind="id")
    first = {"registered": "a-canary@leak.test", "cookie": "ck-a1", "device": "dev-a1"}
    a = factories.track_customer(project, first, A_PROPERTIES)
    second = {"registered": "a-canary@leak.test", "cookie": "ck-a2", "device": "dev-a2"}
    factories.track_customer(project, second)
    b = factories.track_customer(project, {"cookie": "ck-b"}, B_PROPERTIES)
    pii_flags_set(
        actor=actor,
        customer_attributes={"registered": True, "device": True, "email": True, "age": True},
    )
    return Shop(project, a.pk, b.pk)


def export_bytes(principal: Principal, export_format: ExportFormat, narrowed: bool) -> bytes:
    customer_filter = CustomerFilter.from_api(BY_CITY) if narrowed else CustomerFilter()
    request = ExportRequest(customer_filter, FIELDS, export_format)
    export = customers_export(actor=principal, request=request, via=ExportVia.API)
    return b"".join(export.blocks)


def python_path(monkeypatch: Any) -> None:
    """Make the engine take its Python loop on PostgreSQL too (a no-op on SQLite)."""

    def python_lines(
        matching: Any, columns: Any, export_format: Any, project_id: int, **_: Any
    ) -> Any:
        return engine._python_lines(matching, columns, export_format, project_id, 2)

    monkeypatch.setattr(engine, "_pg_lines", python_lines)


def csv_text(value: Any) -> str:
    """A cell as the engine writes it, independently: strings as is, JSON text otherwise,
    formula-guarded (a plain signed number is not a formula)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    if text[:1] in ("=", "+", "-", "@") and not text.replace(" ", "").lstrip("+-").isdigit():
        return "'" + text
    return text


NAMES = [f.name for f in FIELDS]


@pytest.mark.parametrize("narrowed", [False, True], ids=["all", "filtered"])
@pytest.mark.parametrize("masked", [True, False], ids=["without-personal-data", "with"])
def test_every_format_masks_cell_by_cell_on_both_paths(
    shop: Shop, masked: bool, narrowed: bool, monkeypatch: Any
) -> None:
    principal = shop.masked if masked else shop.full
    expected = shop.rows(masked, narrowed=narrowed)
    got = {f: export_bytes(principal, f, narrowed) for f in ExportFormat}

    rows = list(csv.reader(io.StringIO(got[ExportFormat.CSV].decode())))
    assert rows == [NAMES] + [[csv_text(v) for v in row] for row in expected]
    native = json.loads(got[ExportFormat.NATIVE_JSON])
    assert native == {
        "success": True,
        "fields": [{"type": "internal_id"}]
        + [{"type": f.kind.value, f.kind.value: f.name} for f in FIELDS[1:]],
        "data": expected,
    }
    table = json.loads(got[ExportFormat.TABLE_JSON])
    assert table == {"success": True, "header": NAMES, "rows": expected}
    if masked:
        for body in got.values():
            assert b"canary" not in body and b"dev-a" not in body

    python_path(monkeypatch)  # in chunks of 2 customers: the keyset moves on
    for export_format, body in got.items():
        assert export_bytes(principal, export_format, narrowed) == body, export_format


def test_a_csv_cell_quotes_like_copy_and_keeps_empty_text_apart_from_missing(
    shop: Shop, monkeypatch: Any
) -> None:
    c = factories.track_customer(
        shop.project, {"cookie": "ck-c"}, {"city": 'Qu"ote, town', "plan": "", "tags": "@x"}
    )
    expected_c = f'{c.pk},,"[""ck-c""]",,,,"Qu""ote, town","",\'@x\n'
    for python in (False, True):
        if python:
            python_path(monkeypatch)
        body = export_bytes(shop.masked, ExportFormat.CSV, False).decode()
        assert body.endswith(expected_c), body


def test_column_plan_hides_what_the_masker_hides_and_knows_hard_ids(shop: Shop) -> None:
    restricted = Masker.for_principal(shop.masked)
    hidden = {"registered", "device", "email", "age"}
    hard = {"registered"}
    assert column_plan(shop.project, restricted, FIELDS) == tuple(
        ExportColumn(f, hidden=f.name in hidden, hard=f.name in hard) for f in FIELDS
    )
    permitted = Masker.for_principal(shop.full)
    assert column_plan(shop.project, permitted, FIELDS) == tuple(
        ExportColumn(f, hidden=False, hard=f.name in hard) for f in FIELDS
    )


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        (ExportField.for_property("nonsense"), "property"),
        (ExportField.for_property("cookie"), "property"),  # an ID asked for as a property
        (ExportField.for_id("city"), "id"),  # a property asked for as an ID
        (ExportField.for_id("nonsense"), "id"),
    ],
)
def test_column_plan_refuses_an_unknown_column_by_position(
    shop: Shop, field: ExportField, kind: str
) -> None:
    restricted = Masker.for_principal(shop.masked)
    with pytest.raises(InvalidInput) as refused:
        column_plan(shop.project, restricted, (ExportField.for_property("city"), field))
    assert str(refused.value) == f"Column 2 is not a customer {kind} here."


def test_column_plan_knows_only_this_projects_attributes(shop: Shop) -> None:
    other = factories.make_project("Other export shop")
    factories.track_customer(other, {"cookie": "ck-other"}, {"elsewhere": "x"})
    restricted = Masker.for_principal(shop.masked)
    with pytest.raises(InvalidInput) as refused:
        column_plan(shop.project, restricted, (ExportField.for_property("elsewhere"),))
    assert str(refused.value) == "Column 1 is not a customer property here."


def test_column_plan_takes_at_most_the_field_limit(shop: Shop) -> None:
    restricted = Masker.for_principal(shop.masked)
    at_limit = (ExportField.for_property("city"),) * engine.MAX_FIELDS
    assert len(column_plan(shop.project, restricted, at_limit)) == engine.MAX_FIELDS == 1000
    with pytest.raises(InvalidInput) as refused:
        column_plan(shop.project, restricted, (*at_limit, at_limit[0]))
    assert str(refused.value) == "At most 1000 columns per export."


def test_a_missing_masked_value_stays_missing_on_both_paths(shop: Shop, monkeypatch: Any) -> None:
    """A PII column the customer has no value for is empty, not a mask: nothing to hide."""
    for python in (False, True):
        if python:
            python_path(monkeypatch)
        table = json.loads(export_bytes(shop.masked, ExportFormat.TABLE_JSON, False))
        assert table["rows"][1] == shop.rows(True)[1]
        assert table["rows"][1][1:6] == [None, ["ck-b"], None, None, None]


def test_soft_id_values_stay_in_id_order_when_the_table_order_differs(
    shop: Shop, monkeypatch: Any
) -> None:
    """Values in id order whatever the plan reads first: an index reads them by value, a
    sequential scan by where PostgreSQL wrote them (an updated row comes last); only the
    subquery's ORDER BY ... id keeps id order."""
    from customers.models import CustomerId

    # A third value that sorts first: the unique (project, name, value) index reads by value.
    third = {"registered": "a-canary@leak.test", "cookie": "aa-third", "device": "aa-dev"}
    factories.track_customer(shop.project, third)
    CustomerId.objects.filter(value__in=["ck-a1", "dev-a1"]).update(name=F("name"))
    for python in (False, True):
        if python:
            python_path(monkeypatch)
        native = json.loads(export_bytes(shop.full, ExportFormat.NATIVE_JSON, False))
        assert native["data"][0][2:4] == [
            ["ck-a1", "ck-a2", "aa-third"],
            ["dev-a1", "dev-a2", "aa-dev"],
        ]


ONLY_IDS = (ExportField.for_id("registered"), ExportField.for_id("device"))


@pytest.mark.parametrize("masked", [True, False], ids=["without-personal-data", "with"])
def test_an_export_of_ids_only_on_both_paths(shop: Shop, masked: bool, monkeypatch: Any) -> None:
    from customers.models import CustomerId

    principal = shop.masked if masked else shop.full
    Customer.objects.create(project=shop.project, properties={"city": "No IDs"})
    # A value that sorts first, and dev-a1 rewritten last (see the test above).
    factories.track_customer(shop.project, {"registered": "a-canary@leak.test", "device": "aa"})
    CustomerId.objects.filter(value="dev-a1").update(name=F("name"))
    devices = ["dev-a1", "dev-a2", "aa"]
    expected = (
        [[MASK, [MASK]], [None, None], [None, None]]
        if masked
        else [["a-canary@leak.test", devices], [None, None], [None, None]]
    )
    for python in (False, True):
        if python:
            python_path(monkeypatch)
        request = ExportRequest(CustomerFilter(), ONLY_IDS, ExportFormat.TABLE_JSON)
        export = customers_export(actor=principal, request=request, via=ExportVia.API)
        assert json.loads(b"".join(export.blocks))["rows"] == expected


def test_the_python_loop_reads_ids_only_for_id_columns_and_starts_at_the_first_customer(
    shop: Shop, django_assert_num_queries: Any
) -> None:
    if not Customer.objects.filter(pk=1).exists():
        Customer.objects.create(pk=1, project=shop.project, properties={"city": "One"})
    first = Customer.objects.get(pk=1)
    assert first.project_id == shop.project.pk
    count = Customer.objects.filter(project=shop.project).count()  # 3, or 2 if A is pk 1
    restricted = Masker.for_principal(shop.masked)
    matching = customers_matching(shop.masked, CustomerFilter(), masker=restricted)
    props = column_plan(shop.project, restricted, (ExportField.for_property("city"),))
    with django_assert_num_queries(2):  # one chunk, then the empty one: no ID query
        rows = list(engine._python_rows(matching, props, shop.project.pk, count))
    assert rows[0] == [first.properties.get("city")]
    assert len(rows) == count
    ids = column_plan(shop.project, restricted, ONLY_IDS)
    with django_assert_num_queries(3):  # one chunk with its IDs, then the empty one
        rows = list(engine._python_rows(matching, ids, shop.project.pk, count))
    assert len(rows) == count and [MASK, [MASK]] in rows
