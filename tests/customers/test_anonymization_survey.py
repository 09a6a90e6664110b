"""The erasure survey and its pre-test agree with the Python leftover check.

On PostgreSQL one statement gives each customer's receipt names and counts and the JSON
text of what stays (customers/services/anonymization_sql.py ``erasure_survey``); only the
customers whose text may hold a removed value (``_pre_test``, ``_may_stay``) are read and
checked in Python. These tests anonymize the same customers with the survey and without it
(every customer read in Python, as SQLite always does) and compare receipts and stored
data; the customers are chosen where the JSON text spells a value differently from Python
(escapes, floats, nesting, non-ASCII, integers).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction

from access.selectors import principal_for_user
from customers.models import Customer, ErasureReceipt, Event
from customers.services import erasure_receipt
from customers.services.anonymization import customer_anonymize
from customers.services.erasure_receipt import _may_contain, _may_stay
from tests import factories
from tests.conftest import World


def test_may_stay_reads_values_json_or_python_spell_differently() -> None:
    stays = ['{"url": "https://shop.example.com/p1"}']
    for value in ('say "hi" now', "a\\b", "tab\there", "1.5", "1e-05", "1E+16", "INF", "-inf"):
        assert _may_stay({value}, stays), value
    assert not _may_stay({"10.0.3.4", "0005", "+421 900 1"}, stays)
    assert _may_stay({"SHOP.example"}, stays)
    assert not _may_stay(set(), stays)


class _Rollback(Exception):
    pass


def _people(world: World) -> list[Customer]:
    project = world.project
    rows: list[tuple[dict[str, str], dict[str, Any], list[tuple[str, dict[str, Any]]]]] = [
        # Nested leftover, in another case.
        (
            {"registered": "sam1@x.test"},
            {"email": "sam1@x.test", "tags": [{"x": "mail SAM1@X.TEST"}]},
            [],
        ),
        # A removed value holding a quote: JSON escapes it in what stays.
        ({"registered": "q@x.test"}, {"first_name": 'O"Brien', "note": 'Dear O"Brien'}, []),
        # PostgreSQL writes 1e-05 as 0.00001; Python's text of the float is the value.
        ({"registered": "f@x.test"}, {"phone": "1e-05", "score": 0.00001}, []),
        # Non-ASCII, found through case folding.
        ({"registered": "z@x.test"}, {"first_name": "Žofie", "note": "ŽOFIE called"}, []),
        # An integer in what stays equal to a removed one.
        ({"registered": "i@x.test"}, {"phone": 4219001234, "order": 4219001234}, []),
        # A newline before the value: escaped in the JSON text, the value still found.
        ({"registered": "sam9@x.test"}, {"note": "line1\nSAM9@X.TEST"}, []),
        # An event attribute in another attribute of the event.
        (
            {"registered": "ev@x.test"},
            {"plan": "free"},
            [("page_visit", {"url": "https://x.test/?ip=198.51.100.7", "ip": "198.51.100.7"})],
        ),
        # Clean: nothing of it stays anywhere.
        (
            {"registered": "clean@x.test", "cookie": "ck-clean"},
            {"email": "clean@x.test", "city": "Brno", "total": 12.5},
            [
                ("page_visit", {"url": "https://shop.example.com/p1", "ip": "10.0.3.4"}),
                ("purchase", {"total": 10.5, "shipping_address": "1 Main St", "n": [1, 2]}),
            ],
        ),
    ]
    return [factories.track_customer(project, ids, props, events) for ids, props, events in rows]


def _outcome(pks: list[int]) -> list[Any]:
    receipts = [
        (
            r.customer_id,
            list(r.properties),
            list(r.id_names),
            sorted(map(tuple, r.event_attributes)),
            r.events_cleared,
            list(r.leftovers),
            r.leftovers_cleared,
            r.ids_suppressed,
        )
        for r in ErasureReceipt.objects.filter(customer_id__in=pks).order_by("customer_id")
    ]
    customers = list(
        Customer.objects.filter(pk__in=pks).order_by("pk").values_list("pk", "properties")
    )
    events = list(
        Event.objects.filter(customer_id__in=pks)
        .exclude(event_type__name="anonymization")
        .order_by("pk")
        .values_list("pk", "properties")
    )
    return [receipts, customers, events]


def test_survey_and_python_check_agree(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    people = _people(world)
    pks = [c.pk for c in people]
    actor = principal_for_user(world.admin, world.project)
    read: list[int] = []
    check = erasure_receipt._python_check

    def spy(pks_read: list[int], *args: Any, **kwargs: Any) -> Any:
        read.extend(pks_read)
        return check(pks_read, *args, **kwargs)

    monkeypatch.setattr(erasure_receipt, "_python_check", spy)

    def run(*, survey: bool) -> list[Any]:
        read.clear()
        with monkeypatch.context() as patch:
            if not survey:
                patch.setattr(erasure_receipt, "erasure_survey", lambda *a, **k: None)
            try:
                with transaction.atomic():
                    customer_anonymize(actor=actor, customers=pks, source="app")
                    outcome = _outcome(pks)
                    raise _Rollback
            except _Rollback:
                pass
        return outcome

    without = run(survey=False)
    assert sorted(read) == sorted(pks)
    with_survey = run(survey=True)
    assert with_survey == without
    receipts = {r[0]: r for r in without[0]}
    assert all(receipts[pk][5] for pk in pks[:-1])  # every planted leftover found
    assert not receipts[pks[-1]][5]
    if connection.vendor == "postgresql":
        assert pks[-1] not in read  # the clean customer was never read into Python


def test_may_contain_folds_values_alike_one_by_one_or_joined() -> None:
    assert _may_contain(["x \u212aELVIN y"], {"zzz", "kelvin"})
    assert _may_contain(
        ["\u03a3\u039f\u03a6\u0399\u0391\u03a3"], {"\u03c3\u03bf\u03c6\u03b9\u03b1\u03c2"}
    )
    assert _may_contain(["a\x00b"], {"q\x00r", "b"})  # a value holding NUL: one by one
    assert not _may_contain(["abc"], {"q\x00r", "zz"})
