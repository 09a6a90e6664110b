"""What a restricted principal receives from each presenter that decides masked output (issue 20).

The mutation run (``bench/mutation.py``) mutates ``customers/presenters.py`` one change at a
time; these tests are the ones it runs for that module, so they are fast (no database) and
exact: every cell, column, row, profile line and event line is compared whole, for a
masker without Personal data (the mask, never the value, never how many values) and for
one with it (the value itself, so a mutant that masks everything is caught too).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from customers.presenters import (
    MASK,
    MISSING,
    Cell,
    Column,
    CustomerRow,
    EventItem,
    ProfileAttribute,
    _cell,
    columns_for,
    csv_safe,
    customer_cell,
    customer_rows,
    event_items,
    id_cell,
    profile_attributes,
    profile_ids,
)
from customers.selectors import AttributeInfo
from datamanager.catalog import PiiCatalog
from datamanager.masking import MASKED, Masker

CATALOG = PiiCatalog(
    project_id=7,
    customer_properties=frozenset({"email", "score"}),
    id_names=frozenset({"registered", "device"}),
    event_attributes={"purchase": frozenset({"address", "total"})},
)
# A PII value of every JSON type, and the cell a principal with Personal data sees for it.
EVERY_TYPE: list[tuple[Any, Cell]] = [
    ("canary@leak.test", Cell(text="canary@leak.test")),
    ("", Cell(text="")),
    (0, Cell(text="0", numeric=True)),
    (41, Cell(text="41", numeric=True)),
    (-3.5, Cell(text="-3.5", numeric=True)),
    (547430400.0, Cell(text="547430400", numeric=True)),
    (True, Cell(text="true")),
    (False, Cell(text="false")),
    (["a", 1], Cell(text="a, 1")),
    ([], Cell(text="")),
    ({"street": "Canary Row"}, Cell(text='{"street": "Canary Row"}')),
    ("1990-04-12", Cell(text="1990-04-12")),
    ("2024-05-06T07:08:09Z", Cell(text="2024-05-06T07:08:09Z")),
]
MASKED_CELL = Cell(text=MASK, masked=True)
WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


def restricted() -> Masker:
    return Masker(CATALOG, can_see_personal_data=False)


def permitted() -> Masker:
    return Masker(CATALOG, can_see_personal_data=True)


def customer(pk: int, properties: dict[str, Any], *, anonymized: bool = False) -> Any:
    return SimpleNamespace(pk=pk, properties=properties, anonymized_at=WHEN if anonymized else None)


def event(pk: int, type_name: str, properties: dict[str, Any]) -> Any:
    return SimpleNamespace(
        pk=pk, event_type=SimpleNamespace(name=type_name), timestamp=WHEN, properties=properties
    )


# Cells ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), EVERY_TYPE)
def test_a_pii_customer_cell_is_the_mask_of_every_type_and_the_value_with_personal_data(
    value: Any, shown: Cell
) -> None:
    assert customer_cell(restricted(), "email", value) == MASKED_CELL
    assert customer_cell(permitted(), "email", value) == shown
    assert customer_cell(restricted(), "city", value) == shown  # not PII: everyone sees it


def test_a_missing_value_is_the_missing_cell_for_everyone() -> None:
    assert Cell(text="", missing=True) == MISSING
    for masker in (restricted(), permitted()):
        assert customer_cell(masker, "email", None) == MISSING
        assert customer_cell(masker, "city", None) == MISSING


def test_cell_of_the_marker_and_of_a_stored_literal_mask() -> None:
    assert _cell(MASKED) == MASKED_CELL
    assert _cell(MASK) == Cell(text=MASK)  # a stored "******" is a value, not the marker
    assert _cell(None) is MISSING
    assert _cell(True) == Cell(text="true", numeric=False)
    assert _cell(7) == Cell(text="7", numeric=True)
    assert _cell(7.25) == Cell(text="7.25", numeric=True)


def test_a_pii_id_cell_is_one_mask_whatever_the_number_of_values() -> None:
    for values in (["d1"], ["d1", "d2"], ["d1", "d2", "d3"]):
        assert id_cell(restricted(), "device", values) == MASKED_CELL
        assert id_cell(restricted(), "device", tuple(values)) == MASKED_CELL
    assert id_cell(permitted(), "device", ["d1", "d2", "d3"]) == Cell(text="d1", more=2)
    assert id_cell(permitted(), "device", ["d1"]) == Cell(text="d1", more=0)
    assert id_cell(restricted(), "cookie", ["c1", "c2"]) == Cell(text="c1", more=1)
    for masker in (restricted(), permitted()):
        assert id_cell(masker, "device", []) is MISSING
        assert id_cell(masker, "device", None) is MISSING


def test_columns_are_usable_unless_hidden_from_the_principal() -> None:
    attributes = [
        AttributeInfo(name="registered", is_id=True, type="string", pii=True),
        AttributeInfo(name="email", is_id=False, type="string", pii=True),
        AttributeInfo(name="city", is_id=False, type="number", pii=False),
    ]
    assert columns_for(restricted(), attributes) == [
        Column(name="registered", is_id=True, type="string", pii=True, usable=False),
        Column(name="email", is_id=False, type="string", pii=True, usable=False),
        Column(name="city", is_id=False, type="number", pii=False, usable=True),
    ]
    assert [c.usable for c in columns_for(permitted(), attributes)] == [True, True, True]


# The list -------------------------------------------------------------------------------------


def test_customer_rows_mask_pii_ids_and_properties_cell_by_cell() -> None:
    customers = [
        customer(1, {"email": "a@leak.test", "city": "Brno", "score": 0}),
        customer(2, {"city": "Nitra"}, anonymized=True),
    ]
    ids = {1: {"registered": ["a@leak.test"], "device": ["d1", "d2"], "cookie": ["c1"]}}
    kwargs: dict[str, Any] = {
        "id_columns": ["registered", "device", "cookie"],
        "property_columns": ["email", "city", "score"],
        "ids": ids,
    }
    assert customer_rows(restricted(), customers, **kwargs) == [
        CustomerRow(
            pk=1,
            cells=[
                MASKED_CELL,
                MASKED_CELL,
                Cell(text="c1"),
                MASKED_CELL,
                Cell(text="Brno"),
                MASKED_CELL,
            ],
            anonymized=False,
        ),
        CustomerRow(
            pk=2,
            cells=[MISSING, MISSING, MISSING, MISSING, Cell(text="Nitra"), MISSING],
            anonymized=True,
        ),
    ]
    shown = customer_rows(permitted(), customers, **kwargs)
    assert shown[0].cells == [
        Cell(text="a@leak.test"),
        Cell(text="d1", more=1),
        Cell(text="c1"),
        Cell(text="a@leak.test"),
        Cell(text="Brno"),
        Cell(text="0", numeric=True),
    ]
    assert [r.pk for r in shown] == [1, 2]
    assert [r.anonymized for r in shown] == [False, True]


# The profile ----------------------------------------------------------------------------------


INFO = {
    "registered": AttributeInfo(name="registered", is_id=True, type="string", pii=True),
    "cookie": AttributeInfo(name="cookie", is_id=True, type="number", pii=False),  # a shop number
    "email": AttributeInfo(name="email", is_id=False, type="string", pii=True),
    "score": AttributeInfo(name="score", is_id=False, type="number", pii=True),
}


def test_profile_ids_show_one_mask_per_hidden_name_and_every_value_otherwise() -> None:
    ids = {"device": ["d1", "d2"], "registered": ["r@leak.test"], "cookie": ["c1", "c2"]}
    assert profile_ids(restricted(), ids, INFO) == [
        ProfileAttribute(name="cookie", cell=Cell(text="c1"), pii=False, type="number"),
        ProfileAttribute(name="cookie", cell=Cell(text="c2"), pii=False, type="number"),
        # Not in the page's catalog: PII by the masker's catalog, typed as text.
        ProfileAttribute(name="device", cell=MASKED_CELL, pii=False, type="string"),
        ProfileAttribute(name="registered", cell=MASKED_CELL, pii=True, type="string"),
    ]
    assert [(a.name, a.cell) for a in profile_ids(permitted(), ids, INFO)] == [
        ("cookie", Cell(text="c1")),
        ("cookie", Cell(text="c2")),
        ("device", Cell(text="d1")),
        ("device", Cell(text="d2")),
        ("registered", Cell(text="r@leak.test")),
    ]


def test_profile_attributes_mask_each_pii_property_of_every_type() -> None:
    for value, shown in EVERY_TYPE:
        person = customer(1, {"score": value, "email": value, "city": "Brno", "note": None})
        assert profile_attributes(restricted(), person, INFO) == [
            ProfileAttribute(name="city", cell=Cell(text="Brno"), pii=False, type="string"),
            ProfileAttribute(name="email", cell=MASKED_CELL, pii=True, type="string"),
            ProfileAttribute(name="note", cell=MISSING, pii=False, type="string"),
            ProfileAttribute(name="score", cell=MASKED_CELL, pii=True, type="number"),
        ]
        assert [(a.name, a.cell) for a in profile_attributes(permitted(), person, INFO)] == [
            ("city", Cell(text="Brno")),
            ("email", shown),
            ("note", MISSING),
            ("score", shown),
        ]


# Events ---------------------------------------------------------------------------------------


def test_event_items_mask_pii_attributes_and_keep_them_out_of_the_teaser() -> None:
    events = [
        event(5, "purchase", {"address": "77 Canary Row", "total": 0, "item": "Bag", "qty": 2}),
        event(6, "visit", {"address": "visible here", "url": "/a"}),
    ]
    assert event_items(restricted(), events) == [
        EventItem(
            pk=5,
            event_type="purchase",
            timestamp=WHEN,
            properties=[
                ("address", MASKED_CELL),
                ("item", Cell(text="Bag")),
                ("qty", Cell(text="2", numeric=True)),
                ("total", MASKED_CELL),
            ],
            teaser="item: Bag · qty: 2",
        ),
        EventItem(
            pk=6,
            event_type="visit",
            timestamp=WHEN,
            properties=[("address", Cell(text="visible here")), ("url", Cell(text="/a"))],
            teaser="address: visible here · url: /a",
        ),
    ]
    shown = event_items(permitted(), events[:1])[0]
    assert shown.properties == [
        ("address", Cell(text="77 Canary Row")),
        ("item", Cell(text="Bag")),
        ("qty", Cell(text="2", numeric=True)),
        ("total", Cell(text="0", numeric=True)),
    ]
    assert shown.teaser == "address: 77 Canary Row · item: Bag · qty: 2"  # the first three


def test_an_event_teaser_skips_missing_values_and_is_cut_at_160_characters() -> None:
    items = event_items(restricted(), [event(1, "visit", {"a": None, "b": "x" * 200, "c": "y"})])
    assert items[0].properties[0] == ("a", MISSING)
    assert items[0].teaser == "b: " + "x" * 157
    assert len(items[0].teaser) == 160


# The CSV guard --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("+421 900 111 222", "+421 900 111 222"),
        ("-12.5", "-12.5"),
        ("plain", "plain"),
        ("", ""),
        (MASK, MASK),
    ],
)
def test_csv_safe_neutralizes_formulas_only(text: str, safe: str) -> None:
    assert csv_safe(text) == safe
