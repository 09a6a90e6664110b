"""The batch path gives exactly what single commands give (issue 14's ingest speed work).

``tracking_batch`` resolves a whole batch at once (one ID match, light locked rows on
PostgreSQL, one statement per table); ``customer_update`` / ``event_track`` take one
command at a time. The same commands sent both ways, into two projects, must end in the
same customers, IDs, properties with their per-property timestamps, and events, including
new customers, repeat visitors, an older update that must not win, a cookie visitor who
logs in (a merge), a soft ID moving, a hard-ID conflict and an anonymized customer.
Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from customers.models import Customer, CustomerId, Event
from customers.services import customer_anonymize, customer_update, event_track
from customers.services.tracking_batch import tracking_batch
from datamanager.services import pii_flags_set
from tests import factories

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000.0


def _commands() -> list[dict[str, Any]]:
    def update(ids: dict[str, str], props: dict[str, Any], ts: float | None = None) -> Any:
        data: dict[str, Any] = {"customer_ids": ids, "properties": props}
        if ts is not None:
            data["update_timestamp"] = ts
        return {"name": "customers", "data": data}

    def event(ids: dict[str, str], kind: str, ts: float, **props: Any) -> Any:
        return {
            "name": "customers/events",
            "data": {"customer_ids": ids, "event_type": kind, "timestamp": ts, "properties": props},
        }

    return [
        update({"registered": "a@x.test"}, {"plan": "basic", "city": "Brno"}, T0 + 10),
        event({"registered": "a@x.test"}, "view", T0 + 11, url="/a"),
        # An older update of plan loses; city (newer) wins; a new property comes in.
        update({"registered": "a@x.test"}, {"plan": "old", "city": "Praha", "n": 1}, T0 + 5),
        update({"registered": "a@x.test"}, {"city": "Wien"}, T0 + 20),
        # A cookie visitor, then the same visitor logging in: merged into a@x.test.
        event({"cookie": "ck-1"}, "view", T0 + 12, url="/b"),
        update({"cookie": "ck-1"}, {"utm": "mail", "plan": "cookie-plan"}, T0 + 13),
        event({"registered": "a@x.test", "cookie": "ck-1"}, "login", T0 + 14),
        # A second registered customer; the cookie moves to them (two registered never merge).
        update({"registered": "b@x.test"}, {"plan": "pro"}, T0 + 15),
        event({"registered": "b@x.test", "cookie": "ck-1"}, "login", T0 + 16),
        event({"cookie": "ck-1"}, "view", T0 + 17, url="/c"),
        # Events only, repeat visitors, and an update without a timestamp later on.
        *[
            event({"registered": f"r{i % 3}@x.test"}, "purchase", T0 + 30 + i, n=i)
            for i in range(7)
        ],
        update({"registered": "r1@x.test"}, {"vip": True}, T0 + 40),
        # The anonymized customer (its random cookie only): events and non-PII properties.
        event({"cookie": "ANON"}, "view", T0 + 50, url="/z"),
        update({"cookie": "ANON"}, {"email": "leak@x.test", "plan": "after"}, T0 + 51),
    ]


def _anonymized(project: Any) -> str:
    """A customer anonymized before the commands; returns its random cookie."""
    customer = customer_update(
        actor=factories.system(project),
        ids={"registered": "gone@x.test"},
        properties={"email": "gone@x.test", "plan": "x"},
        update_timestamp=T0,
    ).customer
    actor = factories.system(project)
    pii_flags_set(actor=actor, customer_attributes={"registered": True, "email": True})
    customer_anonymize(actor=actor, customers=[customer], source="app")
    return str(CustomerId.objects.get(customer=customer, name="cookie").value)


def _with_cookie(commands: list[dict[str, Any]], cookie: str) -> list[dict[str, Any]]:
    for command in commands:
        ids = command["data"]["customer_ids"]
        if ids.get("cookie") == "ANON":
            ids["cookie"] = cookie
    return commands


def _state(project: Any) -> Any:
    """The project's data, with internal ids replaced by the customer's sorted IDs."""
    label: dict[int, tuple[tuple[str, str], ...]] = {}
    for customer in Customer.objects.filter(project=project):
        ids = CustomerId.objects.filter(customer=customer).values_list("name", "value")
        # The anonymized customer's cookie is random per project: name it by its role.
        label[customer.pk] = tuple(
            sorted(("cookie", "ANON") if customer.anonymized_at else pair for pair in ids)
        )
    customers = sorted(
        (label[c.pk], c.properties, c.property_timestamps, c.anonymized_at is not None)
        for c in Customer.objects.filter(project=project)
    )
    events = sorted(
        (label[e.customer_id], e.event_type.name, e.timestamp.timestamp(), sorted(e.properties))
        for e in Event.objects.filter(project=project).select_related("event_type")
        if e.event_type.name != "anonymization"
    )
    return customers, events


def test_a_batch_ends_exactly_where_the_same_single_commands_end() -> None:
    batch_project = factories.make_project("Batch")
    single_project = factories.make_project("Single")
    batch_commands = _with_cookie(_commands(), _anonymized(batch_project))
    single_commands = _with_cookie(_commands(), _anonymized(single_project))

    results = tracking_batch(actor=factories.system(batch_project), commands=batch_commands)
    assert [r["success"] for r in results] == [True] * len(batch_commands)

    actor = factories.system(single_project)
    for command in single_commands:
        data = command["data"]
        if command["name"] == "customers":
            customer_update(
                actor=actor,
                ids=data["customer_ids"],
                properties=data["properties"],
                update_timestamp=data.get("update_timestamp"),
            )
        else:
            event_track(
                actor=actor,
                ids=data["customer_ids"],
                event_type=data["event_type"],
                timestamp=data["timestamp"],
                properties=data["properties"],
            )

    batch_state, single_state = _state(batch_project), _state(single_project)
    assert batch_state == single_state
    customers, _ = batch_state
    by_ids = {ids: (props, stamps) for ids, props, stamps, _ in customers}
    # Spot checks, so an identical but wrong result fails too.
    props, stamps = by_ids[(("registered", "a@x.test"),)]
    assert props == {"plan": "basic", "city": "Wien", "n": 1, "utm": "mail"}
    assert stamps["plan"] == T0 + 10 and stamps["city"] == T0 + 20 and stamps["n"] == T0 + 5
    assert by_ids[(("cookie", "ck-1"), ("registered", "b@x.test"))][0] == {"plan": "pro"}
    anonymized = next(c for c in customers if c[3])
    assert "email" not in anonymized[1] and anonymized[1]["plan"] == "after"
