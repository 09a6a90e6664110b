"""Tracked values: distinct values and counts from recent rows; PII never read for the restricted."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from datamanager.selectors import tracked_values
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, CANARY_IP, World


def _all_text(samples: object) -> str:
    return repr(samples)


def test_restricted_principal_gets_no_pii_values_and_none_are_read(world: World) -> None:
    marketer = factories.principal_of(world.marketer, world.project)
    with CaptureQueriesContext(connection) as queries:
        samples = tracked_values(marketer)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    # The PII keys are not even extracted from the JSON: nothing to leak downstream.
    for name in ("first_name", "shipping_address", '"phone"'):
        assert name not in sql, name
    assert "city" in sql
    text = _all_text(samples)
    assert not any(c in text for c in CANARIES), text
    assert samples.customer["email"].personal_data_hidden
    assert samples.customer["registered"].personal_data_hidden
    assert samples.customer["email"].to_api() == {"personal_data": True}
    assert samples.events[("page_visit", "ip")].personal_data_hidden
    assert samples.customer["city"].top == [("Bratislava", 1)]
    assert samples.events[("purchase", "total")].top == [("42.5", 1)]


def test_permitted_principal_sees_them(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    samples = tracked_values(admin)
    assert samples.customer["email"].top == [(CANARY_EMAIL, 1)]
    assert samples.customer["registered"].top == [(CANARY_EMAIL, 1)]
    assert samples.events[("page_visit", "ip")].top == [(CANARY_IP, 1)]
    assert all(c in _all_text(samples) for c in CANARIES)


def test_counts_distinct_values_from_the_most_recent_rows_only(world: World) -> None:
    for i, plan in enumerate(["free", "free", "basic", "free", "premium"]):
        factories.track_customer(
            world.project,
            {"registered": f"c{i}@example.test"},
            {"plan": plan, "newsletter": i % 2 == 0},
            [("purchase", {"total": 10})],
        )
    admin = factories.principal_of(world.admin, world.project)
    everything = tracked_values(admin)
    assert everything.customer["plan"].top[0] == ("free", 3)
    assert everything.customer["plan"].top == [("free", 3), ("premium", 2), ("basic", 1)]
    assert everything.customer["plan"].distinct == 3
    assert everything.customer["plan"].rows_scanned == 6
    assert dict(everything.customer["newsletter"].top) == {"true": 3, "false": 2}
    recent = tracked_values(admin, rows=2)
    assert recent.customer["plan"].rows_scanned == 2
    assert dict(recent.customer["plan"].top) == {"premium": 1, "free": 1}
    assert recent.events[("purchase", "total")].rows_scanned == 2
