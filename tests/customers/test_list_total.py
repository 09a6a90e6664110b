"""The customer list's total (issue 14 item 3): what it says and what it costs.

- A first page that holds every match is its own total (exact, no count).
- A filter whose planner estimate is a default guess (an event attribute condition, a
  count) shows what the page proves, "more than 25", with a "Count them" link; the link
  counts exactly (under a statement timeout on PostgreSQL) and gives the hand-computed
  number.
- Filters the planner estimates well keep the estimate / exact count of before.
- The count never answers a PII condition the principal may not use: 403, alike for a
  right and a wrong guess, with or without ``count=exact``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.db.models.expressions import RawSQL
from django.test import Client

from customers.filters import CustomerFilter, estimate_is_reliable
from customers.listing import CustomerPage, ListTotal, _bounded_count, list_total
from customers.models import Customer, Event

from .demo_data import Demo, seed_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db: Any) -> Demo:
    return seed_demo(40)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _list(demo: Demo, user: Any, **params: str) -> Any:
    url = f"/projects/{demo.project.token}/customers/?" + urlencode(params)
    return _client(user).get(url)


def _total_text(html: str) -> str:
    match = re.search(r'<strong class="cu-total" data-exact="(\d)">([^<]*)</strong>', html)
    assert match, "no total on the page"
    return f"{match.group(1)}:{match.group(2)}"


def _purchasers(demo: Demo, *, over: float = 0.0, at_least: int = 1) -> set[int]:
    """Customers with ``at_least`` purchases whose total is over ``over`` (by hand)."""
    counts: dict[int, int] = {}
    events = Event.objects.filter(project=demo.project, event_type__name="purchase")
    for customer_id, props in events.values_list("customer_id", "properties"):
        total = props.get("total")
        if isinstance(total, (int, float)) and not isinstance(total, bool) and total > over:
            counts[customer_id] = counts.get(customer_id, 0) + 1
    return {pk for pk, n in counts.items() if n >= at_least}


def _e(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def test_reliability_of_the_estimate_by_condition_kind() -> None:
    def reliable(**params: str) -> bool:
        return estimate_is_reliable(CustomerFilter.from_querydict(params))

    assert reliable()
    assert reliable(c="plan:equals:premium")
    assert reliable(e="purchase:30")
    assert reliable(e="!purchase")
    assert reliable(e=_e({"event_type": "purchase", "count": {"op": "at_least", "value": 1}}))
    assert not reliable(e=_e({"event_type": "purchase", "count": {"op": "at_least", "value": 2}}))
    assert not reliable(e=_e({"event_type": "purchase", "count": {"op": "at_most", "value": 1}}))
    where = [{"attribute": "total", "operator": "gt", "value": "100"}]
    assert not reliable(e=_e({"event_type": "purchase", "where": where}))
    # Inside a group too.
    group = {"match": "any", "conditions": [], "events": [{"event_type": "x", "where": where}]}
    assert not reliable(g=_e(group))


def test_first_page_holding_every_match_is_exact_without_a_count(demo: Demo) -> None:
    qs = Customer.objects.filter(project=demo.project, properties__plan="premium")
    rows = list(qs.order_by("-pk"))
    assert 0 < len(rows) <= 25
    page = CustomerPage(customers=rows, next_cursor=None, prev_cursor=None)
    for reliable in (True, False):
        total = list_total(qs, page, first_page=True, estimate_reliable=reliable)
        assert total == ListTotal(value=len(rows), exact=True)
        assert total.label == str(len(rows)) and not total.countable


def test_unreliable_estimate_shows_what_the_page_proves_and_counts_on_demand(
    demo: Demo,
) -> None:
    # Everyone but the customers with a purchase over 50: a full first page of 25.
    over = 200.0
    where = [{"attribute": "total", "operator": "gt", "value": str(over)}]
    expected = set(Customer.objects.filter(project=demo.project).values_list("pk", flat=True))
    expected -= _purchasers(demo, over=over)
    assert len(expected) > 25, "the demo data should fill a page"
    e = _e({"event_type": "purchase", "done": False, "where": where})

    html = _list(demo, demo.marketer, e=e).content.decode()
    assert _total_text(html) == "0:more than 25"
    assert "more than 25 in total" in html
    link = re.search(r'<a class="cu-count-now" href="([^"]+)"', html)
    assert link, "a full page with an unreliable estimate offers 'Count them'"
    counted = _client(demo.marketer).get(link.group(1).replace("&amp;", "&")).content.decode()
    assert _total_text(counted) == f"1:{len(expected):,}"
    assert 'class="cu-count-now"' not in counted
    # The rows are the same with or without the count.
    ids = re.findall(
        r'name="customer" value="(\d+)"', _list(demo, demo.admin, e=e).content.decode()
    )
    ids_counted = re.findall(
        r'name="customer" value="(\d+)"',
        _list(demo, demo.admin, e=e, count="exact").content.decode(),
    )
    assert ids == ids_counted and set(map(int, ids)) <= expected


def test_a_count_filter_matching_few_is_exact_from_the_page(demo: Demo) -> None:
    expected = _purchasers(demo, at_least=3)
    assert len(expected) <= 25
    count = {"op": "at_least", "value": 3}
    html = _list(demo, demo.marketer, e=_e({"event_type": "purchase", "count": count}))
    text = html.content.decode()
    assert _total_text(text) == f"1:{len(expected)}"
    assert 'class="cu-count-now"' not in text


def test_reliable_filters_keep_the_estimate_or_exact_count(demo: Demo) -> None:
    html = _list(demo, demo.marketer).content.decode()
    assert _total_text(html) == "1:40"  # small table: counted exactly, as before
    assert 'class="cu-count-now"' not in html
    qs = Customer.objects.filter(project=demo.project)
    page = CustomerPage(customers=list(qs.order_by("-pk")[:25]), next_cursor="x", prev_cursor=None)
    assert list_total(qs, page, first_page=True) == ListTotal(value=40, exact=True)


def test_cursor_page_of_an_unreliable_filter_is_a_lower_bound(demo: Demo) -> None:
    qs = Customer.objects.filter(project=demo.project)
    rows = list(qs.order_by("-pk")[25:40])
    page = CustomerPage(customers=rows, next_cursor=None, prev_cursor="y")
    total = list_total(qs, page, first_page=False, estimate_reliable=False)
    assert total == ListTotal(value=15, exact=False) and total.countable
    assert list_total(qs, page, first_page=False, estimate_reliable=False, count=True) == (
        ListTotal(value=40, exact=True)
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statement timeout")
def test_a_count_over_its_time_is_cancelled_and_said(demo: Demo) -> None:
    slow = Customer.objects.filter(project=demo.project).annotate(
        _slow=RawSQL("pg_sleep(0.05) IS NOT NULL", ())
    )
    slow = slow.filter(_slow=True)
    assert _bounded_count(slow, 20) is None
    # The connection is usable afterwards and the timeout was local to the count.
    assert Customer.objects.filter(project=demo.project).count() == 40
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] in ("0", "0ms")
    page = CustomerPage(customers=list(slow[:25]), next_cursor="x", prev_cursor=None)
    total = list_total(slow, page, first_page=True, count=True, timeout_ms=20)
    assert total.timed_out and total.label == "more than 25" and not total.exact


def test_pii_event_condition_is_refused_alike_with_or_without_a_count(demo: Demo) -> None:
    props = (
        Event.objects.filter(project=demo.project, event_type__name="purchase")
        .values_list("properties", flat=True)
        .first()
    )
    assert props
    card = str(props["card_last4"])
    bodies = set()
    for guess in (card, "zz-wrong"):
        where = [{"attribute": "card_last4", "operator": "equals", "value": guess}]
        e = _e({"event_type": "purchase", "where": where})
        for extra in ({}, {"count": "exact"}):
            response = _list(demo, demo.marketer, e=e, **extra)
            assert response.status_code == 403
            body = response.content.decode().replace(guess, "GUESS")
            body = re.sub(r'(csrfmiddlewaretoken" value=")[^"]+', r"\1T", body)
            assert "more than" not in body and 'class="cu-total"' not in body
            bodies.add((response.status_code, body))
    assert len(bodies) == 1
    # The admin may: the count answers (shows the filter can tell).
    where = [{"attribute": "card_last4", "operator": "equals", "value": card}]
    ok = _list(demo, demo.admin, e=_e({"event_type": "purchase", "where": where}), count="exact")
    assert ok.status_code == 200
