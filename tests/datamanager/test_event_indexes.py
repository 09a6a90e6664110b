"""Event attribute filter indexes (issue 14 item 3): the flag's service, the background
index, the Data manager panel, and that the filter's SQL uses the index (EXPLAIN,
PostgreSQL) with the same results as without it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from access.errors import Forbidden, InvalidInput, NotFound, PiiFieldRefused
from access.models import AuditEvent
from customers.filters import CustomerFilter, customers_matching
from customers.models import Customer, Event
from datamanager.event_indexes import (
    filter_index_cost,
    filter_index_set,
    filter_index_status,
    filter_index_sync,
    index_name,
)
from datamanager.models import AttributeType, EventAttribute, EventType, SearchIndexState

from .. import factories
from ..conftest import World

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the indexes exist on PostgreSQL only"
)


def _admin(world: World) -> Any:
    return factories.principal_of(world.admin, world.project)


def _attribute(world: World, event_type: str, name: str) -> EventAttribute:
    return EventAttribute.objects.get(
        event_type__project=world.project, event_type__name=event_type, name=name
    )


def test_set_writes_the_flag_and_one_audit_event(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    total = _attribute(world, "purchase", "total")
    assert total.type == AttributeType.NUMBER
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        attribute = filter_index_set(actor=_admin(world), attribute_id=total.pk, indexed=True)
    assert attribute.filter_indexed
    events = AuditEvent.objects.filter(
        project=world.project, action="datamanager.event_filter_index"
    )
    assert [(e.target_id, e.details) for e in events] == [
        (str(total.pk), {"attribute": "purchase.total", "old": False, "new": True})
    ]
    if connection.vendor == "postgresql":
        assert attribute.filter_index_state == SearchIndexState.QUEUED
        assert len(callbacks) == 1
    else:
        assert attribute.filter_index_state == SearchIndexState.NONE
        assert callbacks == []
    filter_index_set(actor=_admin(world), attribute_id=total.pk, indexed=True)
    assert events.count() == 1


def test_set_is_refused_without_permission_elsewhere_and_for_lists(world: World) -> None:
    total = _attribute(world, "purchase", "total")
    marketer = factories.principal_of(world.marketer, world.project)
    with pytest.raises(Forbidden):
        filter_index_set(actor=marketer, attribute_id=total.pk, indexed=True)
    outsider = factories.principal_of(world.outsider, world.other_project)
    with pytest.raises(NotFound):
        filter_index_set(actor=outsider, attribute_id=total.pk, indexed=True)
    items = _attribute(world, "purchase", "items")
    assert items.type not in (AttributeType.NUMBER, AttributeType.STRING)
    with pytest.raises(InvalidInput):
        filter_index_set(actor=_admin(world), attribute_id=items.pk, indexed=True)
    assert not EventAttribute.objects.filter(filter_indexed=True).exists()
    assert not AuditEvent.objects.filter(action="datamanager.event_filter_index").exists()


def test_an_index_does_not_let_a_restricted_principal_filter_on_pii(world: World) -> None:
    address = _attribute(world, "purchase", "shipping_address")
    filter_index_set(actor=_admin(world), attribute_id=address.pk, indexed=True)
    marketer = factories.principal_of(world.marketer, world.project)
    where = [{"attribute": "shipping_address", "operator": "equals", "value": "x"}]
    text = json.dumps({"event_type": "purchase", "where": where})
    with pytest.raises(PiiFieldRefused):
        customers_matching(marketer, CustomerFilter.from_querydict({"e": [text]}))


def test_cost_is_quoted_in_words() -> None:
    cost = filter_index_cost(1_000_000)
    assert cost["size"] == "about 23 MB" and cost["build"] == "about 1 s"
    assert "%" in cost["ingest"]


def test_panel_lists_number_and_text_attributes_and_posts_the_flag(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    url = f"/projects/{world.project.token}/data-manager/"
    html = client.get(url + "?tab=events").content.decode()
    total = _attribute(world, "purchase", "total")
    assert "Filter indexes" in html
    assert f'name="index_on" value="{total.pk}"' in html
    assert "purchase.items" not in html.split('id="dm-event-index"')[1].split("</section>")[0]
    response = client.post(url + "event-indexes/", {"index_on": str(total.pk)})
    assert response.status_code == 302
    assert _attribute(world, "purchase", "total").filter_indexed
    html = client.get(url + "?tab=events").content.decode()
    assert f'name="index_off" value="{total.pk}"' in html
    # A malformed or foreign id is the one error page, nothing written.
    assert client.post(url + "event-indexes/", {"index_on": "x"}).status_code == 400
    marketer = Client()
    marketer.force_login(world.marketer)
    assert marketer.post(url + "event-indexes/", {"index_off": str(total.pk)}).status_code == 403
    assert _attribute(world, "purchase", "total").filter_indexed


def test_status_and_sync_on_sqlite_build_nothing(world: World) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's plain path")
    total = _attribute(world, "purchase", "total")
    filter_index_set(actor=_admin(world), attribute_id=total.pk, indexed=True)
    total.refresh_from_db()
    assert filter_index_status([total])[total.pk].state == SearchIndexState.NONE
    assert filter_index_sync(attribute_id=total.pk) == SearchIndexState.NONE


# PostgreSQL: the index is built, used, gives the same rows, and is dropped -----------------


def _seed(world: World, n: int = 2000) -> dict[str, set[int]]:
    """``n`` customers with a purchase each (totals 0..n-1, one huge) and a page visit;
    returns the hand-computed sets the conditions below must match."""
    purchase = EventType.objects.get(project=world.project, name="purchase")
    visit = EventType.objects.get(project=world.project, name="page_visit")
    customers = Customer.objects.bulk_create(
        Customer(project=world.project, properties={}) for _ in range(n)
    )
    now = dt.datetime.now(dt.UTC)
    events = []
    for i, c in enumerate(customers):
        total: Any = 10**400 if i == 7 else float(i)
        events.append(
            Event(
                project=world.project,
                customer=c,
                event_type=purchase,
                timestamp=now,
                properties={"total": total},
            )
        )
        url = "https://shop.example.com/rare" if i % 500 == 0 else "https://shop.example.com/"
        events.append(
            Event(
                project=world.project,
                customer=c,
                event_type=visit,
                timestamp=now,
                properties={"url": url},
            )
        )
    Event.objects.bulk_create(events)
    pks = [c.pk for c in customers]
    return {
        "big": {pk for i, pk in enumerate(pks) if i != 7 and i > n - 4},
        "rare": {pk for i, pk in enumerate(pks) if i % 500 == 0},
    }


def _matching(world: World, event: dict[str, Any]) -> tuple[set[int], str]:
    qs = customers_matching(
        _admin(world), CustomerFilter.from_querydict({"e": [json.dumps(event)]})
    )
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            plan = str(qs.order_by("-pk")[:26].explain())
        finally:
            cursor.execute("RESET enable_seqscan")
    return set(qs.values_list("pk", flat=True)), plan


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_number_and_a_text_index_are_built_used_and_dropped(world: World) -> None:
    expected = _seed(world)
    big = {
        "event_type": "purchase",
        "where": [{"attribute": "total", "operator": "gt", "value": "1996.5"}],
    }
    rare = {
        "event_type": "page_visit",
        "where": [
            {"attribute": "url", "operator": "equals", "value": "https://shop.example.com/rare"}
        ],
    }
    # Without an index: the hand-computed sets (the 400-digit total is not a double: no match,
    # and no error).
    before_big, plan = _matching(world, big)
    assert before_big == expected["big"] and "event_filter_" not in plan
    before_rare, _ = _matching(world, rare)
    assert before_rare == expected["rare"]
    total = _attribute(world, "purchase", "total")
    url = _attribute(world, "page_visit", "url")
    for attribute in (total, url):
        filter_index_set(actor=_admin(world), attribute_id=attribute.pk, indexed=True)
        assert filter_index_sync(attribute_id=attribute.pk) == SearchIndexState.READY
        attribute.refresh_from_db()
        status = filter_index_status([attribute])[attribute.pk]
        assert status.state == SearchIndexState.READY and status.size_bytes
    after_big, plan = _matching(world, big)
    assert after_big == before_big and index_name(total.pk) in plan
    after_rare, plan = _matching(world, rare)
    assert after_rare == before_rare and index_name(url.pk) in plan
    # An event with a number out of double precision's range is still tracked.
    Event.objects.create(
        project=world.project,
        customer=world.customer,
        event_type=total.event_type,
        timestamp=dt.datetime.now(dt.UTC),
        properties={"total": 10**500},
    )
    for attribute in (total, url):
        filter_index_set(actor=_admin(world), attribute_id=attribute.pk, indexed=False)
        assert filter_index_sync(attribute_id=attribute.pk) == SearchIndexState.NONE
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'event_filter_%%'")
        assert cursor.fetchone()[0] == 0


@on_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ['o\'neil "total"', "cena.s DPH", "back\\slash", "příjmení"])
def test_an_index_on_an_attribute_with_quotes_dots_or_unicode_is_built_and_used(
    world: World, name: str
) -> None:
    """The attribute name reaches DDL as a SQL literal: it must build, and the filter's
    expression must still match the index's so the planner uses it."""
    factories.track_customer(
        world.project, {"registered": "odd@x.test"}, {}, [("order", {name: 5})]
    )
    order = EventType.objects.get(project=world.project, name="order")
    customers = Customer.objects.bulk_create(
        Customer(project=world.project, properties={}) for _ in range(300)
    )
    Event.objects.bulk_create(
        Event(
            project=world.project,
            customer=c,
            event_type=order,
            timestamp=dt.datetime.now(dt.UTC),
            properties={name: float(i)},
        )
        for i, c in enumerate(customers)
    )
    attribute = _attribute(world, "order", name)
    assert attribute.type == AttributeType.NUMBER
    filter_index_set(actor=_admin(world), attribute_id=attribute.pk, indexed=True)
    assert filter_index_sync(attribute_id=attribute.pk) == SearchIndexState.READY
    event = {"event_type": "order", "where": [{"attribute": name, "operator": "gt", "value": 297}]}
    try:
        matched, plan = _matching(world, event)
        assert matched == {customers[298].pk, customers[299].pk}
        assert index_name(attribute.pk) in plan
    finally:  # the index outlives the test's rows otherwise
        filter_index_set(actor=_admin(world), attribute_id=attribute.pk, indexed=False)
        assert filter_index_sync(attribute_id=attribute.pk) == SearchIndexState.NONE
