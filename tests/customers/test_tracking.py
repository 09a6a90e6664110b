"""Identification, merge, property updates with timestamps, events, validation (nothing written)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from access.errors import Forbidden, InvalidInput, TooLarge
from access.models import AuditEvent
from customers.models import Customer, CustomerId, Event
from customers.services import customer_identify, customer_update, event_track
from datamanager.models import AttributeType, CustomerAttribute, EventAttribute, EventType
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def project() -> Any:
    return factories.make_project()


@pytest.fixture
def actor(project: Any) -> Any:
    return factories.system(project)


def ids_of(customer: Customer) -> set[tuple[str, str]]:
    return set(CustomerId.objects.filter(customer=customer).values_list("name", "value"))


def test_new_ids_create_a_customer_with_those_ids(actor: Any) -> None:
    tracked = customer_identify(actor=actor, ids={"registered": "a@x.test", "cookie": "c1"})
    assert tracked.created
    assert ids_of(tracked.customer) == {("registered", "a@x.test"), ("cookie", "c1")}
    again = customer_identify(actor=actor, ids={"cookie": "c1"})
    assert not again.created and again.customer.pk == tracked.customer.pk
    assert Customer.objects.count() == 1


def test_cookie_visitor_who_logs_in_is_merged_into_the_registered_customer(actor: Any) -> None:
    known = customer_update(
        actor=actor,
        ids={"registered": "a@x.test"},
        properties={"plan": "premium", "city": "Kosice"},
        update_timestamp=100,
    )
    visitor = customer_update(
        actor=actor,
        ids={"cookie": "anon-1"},
        properties={"plan": "free", "utm": "mail"},
        update_timestamp=200,
    )
    event_track(
        actor=actor,
        ids={"cookie": "anon-1"},
        event_type="page_visit",
        timestamp=300,
        properties={"url": "/"},
    )

    merged = customer_identify(actor=actor, ids={"registered": "a@x.test", "cookie": "anon-1"})

    assert merged.customer.pk == known.customer.pk
    assert merged.merged_from == (visitor.customer.pk,)
    assert not Customer.objects.filter(pk=visitor.customer.pk).exists()
    assert ids_of(merged.customer) == {("registered", "a@x.test"), ("cookie", "anon-1")}
    assert Event.objects.get().customer_id == known.customer.pk
    merged.customer.refresh_from_db()
    # The hard-ID customer's properties win; the visitor's other properties are kept.
    assert merged.customer.properties == {"plan": "premium", "city": "Kosice", "utm": "mail"}
    assert (
        AuditEvent.objects.filter(action="customer.merge", target_id=str(known.customer.pk)).count()
        == 1
    )


def test_two_registered_customers_are_never_merged_the_cookie_moves(actor: Any) -> None:
    first = customer_identify(
        actor=actor, ids={"registered": "a@x.test", "cookie": "shared"}
    ).customer
    second = customer_identify(actor=actor, ids={"registered": "b@x.test", "cookie": "shared"})
    assert second.created and second.customer.pk != first.pk
    assert Customer.objects.count() == 2
    assert ids_of(first) == {("registered", "a@x.test")}
    assert ids_of(second.customer) == {("registered", "b@x.test"), ("cookie", "shared")}


def test_older_update_never_overwrites_a_newer_one(actor: Any) -> None:
    ids = {"registered": "a@x.test"}
    customer_update(actor=actor, ids=ids, properties={"plan": "premium"}, update_timestamp=2000)
    customer_update(
        actor=actor, ids=ids, properties={"plan": "free", "city": "Nitra"}, update_timestamp=1000
    )
    customer = Customer.objects.get()
    assert customer.properties == {"plan": "premium", "city": "Nitra"}
    customer_update(actor=actor, ids=ids, properties={"plan": "business"}, update_timestamp=3000)
    customer.refresh_from_db()
    assert customer.properties["plan"] == "business"


def test_discovery_registers_new_names_with_inferred_types(actor: Any, project: Any) -> None:
    customer_update(
        actor=actor,
        ids={"registered": "a@x.test"},
        properties={"age": 31, "vip": True, "site": "https://a.test", "born": "1990-01-02"},
    )
    event_track(
        actor=actor,
        ids={"registered": "a@x.test"},
        event_type="purchase",
        properties={"total": 9.5, "items": ["x"]},
    )
    types = dict(
        CustomerAttribute.objects.filter(project=project, kind="property").values_list(
            "name", "type"
        )
    )
    assert types == {
        "age": AttributeType.NUMBER,
        "vip": AttributeType.BOOLEAN,
        "site": AttributeType.URL,
        "born": AttributeType.DATE,
    }
    purchase = EventType.objects.get(project=project, name="purchase")
    assert dict(EventAttribute.objects.filter(event_type=purchase).values_list("name", "type")) == {
        "total": AttributeType.NUMBER,
        "items": AttributeType.LIST,
    }
    assert (
        CustomerAttribute.objects.get(project=project, name="registered").first_tracked_at
        is not None
    )
    assert CustomerAttribute.objects.get(project=project, name="cookie").first_tracked_at is None


def test_discovery_of_a_batch_costs_constant_queries(
    actor: Any, django_assert_max_num_queries: Any
) -> None:
    from datamanager.services import catalog_register_seen

    props = {f"p{i}": i for i in range(200)}
    events = {f"type{i}": {f"a{j}": "x" for j in range(20)} for i in range(20)}
    with django_assert_max_num_queries(16):  # SQLite splits bulk inserts by its variable limit
        catalog_register_seen(
            project=actor.project, id_names=["registered"], customer_properties=props, events=events
        )
    assert (
        EventAttribute.objects.filter(
            event_type__project=actor.project, event_type__system=False
        ).count()
        == 400
    )


def test_every_new_project_has_registered_and_cookie(project: Any) -> None:
    ids = {a.name: a.hard for a in CustomerAttribute.objects.filter(project=project, kind="id")}
    assert ids == {"registered": True, "cookie": False}


@pytest.mark.parametrize(
    ("ids", "properties", "error"),
    [
        ({}, {}, InvalidInput),
        (None, {}, InvalidInput),
        ({"email": "a@x.test"}, {}, InvalidInput),  # unknown ID name
        ({"registered": ""}, {}, InvalidInput),
        ({"registered": ["a"]}, {}, InvalidInput),
        ({"registered": "a@x.test"}, ["not", "an", "object"], InvalidInput),
        ({"registered": "a@x.test"}, {"": 1}, InvalidInput),
        ({"registered": "a@x.test"}, {"registered": "b"}, InvalidInput),
        ({"registered": "a@x.test"}, {"bio": "x" * 16 * 1024}, TooLarge),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    actor: Any, ids: Any, properties: Any, error: type[Exception]
) -> None:
    before = (
        Customer.objects.count(),
        CustomerId.objects.count(),
        CustomerAttribute.objects.count(),
    )
    with pytest.raises(error) as excinfo:
        customer_update(actor=actor, ids=ids, properties=properties)
    assert "a@x.test" not in str(excinfo.value)  # errors name fields, never values
    assert (
        Customer.objects.count(),
        CustomerId.objects.count(),
        CustomerAttribute.objects.count(),
    ) == before


def test_bad_event_writes_nothing(actor: Any) -> None:
    with pytest.raises(InvalidInput):
        event_track(
            actor=actor, ids={"registered": "a@x.test"}, event_type="visit", timestamp="yesterday"
        )
    with pytest.raises(InvalidInput):
        event_track(actor=actor, ids={"registered": "a@x.test"}, event_type="", timestamp=1)
    assert Customer.objects.count() == 0 and Event.objects.count() == 0
    assert not EventType.objects.filter(name="visit").exists()


def test_tracking_needs_the_track_permission(project: Any) -> None:
    reader = factories.make_key(project, "read_customers")
    with pytest.raises(Forbidden):
        customer_update(actor=reader.principal, ids={"registered": "a@x.test"}, properties={})
    assert Customer.objects.count() == 0


def test_external_id_is_unique_per_project_in_the_database(project: Any, actor: Any) -> None:
    customer = customer_identify(actor=actor, ids={"registered": "a@x.test"}).customer
    other = Customer.objects.create(project=project)
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerId.objects.create(
            project=project, customer=other, name="registered", value="a@x.test"
        )
    # The same value in another project is another person.
    other_project = factories.make_project("Other")
    stranger = Customer.objects.create(project=other_project)
    CustomerId.objects.create(
        project=other_project, customer=stranger, name="registered", value="a@x.test"
    )
    assert CustomerId.objects.filter(value="a@x.test").count() == 2
    assert customer.pk != stranger.pk
