"""``manage.py generate_dataset``: the rows, IDs, events and catalog it documents (PostgreSQL)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from access.models import AuditEvent
from customers.models import Customer, CustomerId, Event
from datamanager.models import AttributeKind, CustomerAttribute, EventAttribute, EventType
from tests import factories

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="generate_dataset loads with PostgreSQL COPY"
)


def _generate(project: Any, customers: int, events: int, **extra: Any) -> str:
    out = io.StringIO()
    call_command(
        "generate_dataset",
        project=str(project.token),
        customers=customers,
        events_per_customer=events,
        stdout=out,
        verbosity=0,
        **extra,
    )
    return out.getvalue()


@postgres_only
def test_loads_customers_with_two_ids_and_events_each(db: Any) -> None:
    project = factories.make_project("Load")
    other = factories.make_project("Untouched")

    output = _generate(project, 25, 4, chunk_size=10)  # three chunks, the last one partial

    assert "Loaded 25 customers, 50 IDs and 100 events" in output
    customers = list(Customer.objects.filter(project=project))
    assert len(customers) == 25
    assert Event.objects.filter(project=project).count() == 100
    assert not Customer.objects.filter(project=other).exists()
    for customer in customers:
        ids = dict(CustomerId.objects.filter(customer=customer).values_list("name", "value"))
        assert set(ids) == {"registered", "cookie"}
        # The registered ID is the customer's e-mail, as tracking would store it.
        assert ids["registered"] == customer.properties["email"]
        assert customer.properties["plan"] in {"free", "basic", "premium", "business"}
        assert isinstance(customer.properties["newsletter"], bool)
        assert customer.created_at <= customer.updated_at
        assert Event.objects.filter(customer=customer).count() == 4
    purchases = Event.objects.filter(project=project, event_type__name="purchase")
    for event in purchases:
        assert event.properties["currency"] == "EUR"
        assert event.properties["total"] > 0


@postgres_only
def test_registers_the_catalog_as_tracking_would(db: Any) -> None:
    project = factories.make_project("Catalog")

    _generate(project, 5, 3)

    props = dict(
        CustomerAttribute.objects.filter(project=project, kind=AttributeKind.PROPERTY).values_list(
            "name", "type"
        )
    )
    assert props == {
        "email": "string",
        "phone": "string",
        "first_name": "string",
        "last_name": "string",
        "birth_date": "date",
        "city": "string",
        "country": "string",
        "plan": "string",
        "newsletter": "boolean",
        "lifetime_value": "number",
    }
    ids = CustomerAttribute.objects.filter(project=project, kind=AttributeKind.ID)
    assert {a.name for a in ids if a.first_tracked_at is not None} == {"registered", "cookie"}
    types = set(
        EventType.objects.filter(project=project, first_tracked_at__isnull=False).values_list(
            "name", flat=True
        )
    )
    assert types == {"page_visit", "session_start", "purchase"}
    purchase_attrs = dict(
        EventAttribute.objects.filter(
            event_type__project=project, event_type__name="purchase"
        ).values_list("name", "type")
    )
    assert purchase_attrs["total"] == "number"
    assert purchase_attrs["items"] == "list"
    assert purchase_attrs["shipping_address"] == "string"
    url = EventAttribute.objects.get(
        event_type__project=project, event_type__name="page_visit", name="url"
    )
    assert url.type == "url"
    # Every event's type is a registered one of this project.
    assert (
        set(Event.objects.filter(project=project).values_list("event_type__name", flat=True))
        <= types
    )


@postgres_only
def test_writes_one_audit_event_with_counts_only(db: Any) -> None:
    project = factories.make_project("Audit")

    _generate(project, 6, 2)

    audits = list(AuditEvent.objects.filter(project=project, action="dataset.generate"))
    assert len(audits) == 1
    assert audits[0].actor_label == "generate_dataset"
    assert audits[0].details["customers"] == 6
    assert audits[0].details["events"] == 12
    assert audits[0].details["customer_ids"] == 12
    # Names and counts only, never a generated e-mail address.
    assert "@" not in str(audits[0].details)


@postgres_only
def test_two_runs_add_up_without_colliding_ids(db: Any) -> None:
    project = factories.make_project("Twice")

    _generate(project, 4, 1)
    _generate(project, 4, 1)  # same seed: the internal id keeps the e-mails unique

    assert Customer.objects.filter(project=project).count() == 8
    assert CustomerId.objects.filter(project=project, name="registered").count() == 8


def test_unknown_project_is_a_clear_error(db: Any) -> None:
    with pytest.raises(CommandError, match="No project with token"):
        call_command(
            "generate_dataset",
            project="00000000-0000-0000-0000-000000000000",
            customers=1,
            verbosity=0,
        )


def test_other_databases_get_a_clear_error_and_nothing_written(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = factories.make_project("Lite")
    monkeypatch.setattr(connection, "vendor", "sqlite")

    with pytest.raises(CommandError, match="PostgreSQL COPY"):
        _generate(project, 3, 1)

    monkeypatch.undo()
    assert not Customer.objects.filter(project=project).exists()
    assert not AuditEvent.objects.filter(project=project, action="dataset.generate").exists()


@postgres_only
def test_foreign_key_checks_are_back_on_after_loading(db: Any) -> None:
    # The loader skips FK triggers while copying rows it built valid; later writes in the
    # same transaction must be checked again.
    project = factories.make_project("Checks")

    _generate(project, 2, 1)

    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
