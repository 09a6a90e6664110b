"""Staged catalog changes: validated first, all or nothing, audited, catalog invalidated."""

from __future__ import annotations

import pytest

from access.errors import Forbidden, InvalidInput, NotFound
from access.models import AuditEvent
from datamanager.catalog import catalog_for_project
from datamanager.models import CustomerAttribute, EventAttribute, EventType
from datamanager.services import (
    CustomerAttributeChange,
    EventAttributeChange,
    EventTypeChange,
    UnflagNotConfirmed,
    catalog_changes_apply,
)
from tests import factories
from tests.conftest import CANARIES, World


def _state(world: World) -> list[tuple[object, ...]]:
    return sorted(
        CustomerAttribute.objects.filter(project=world.project).values_list(
            "name", "pii", "type", "description"
        )
    ) + sorted(
        EventAttribute.objects.filter(event_type__project=world.project).values_list(
            "event_type__name", "name", "pii", "type", "description"
        )
    )


def test_applies_flags_types_and_descriptions_and_audits_each(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    before = AuditEvent.objects.count()
    result = catalog_changes_apply(
        actor=admin,
        customer_attributes=[
            CustomerAttributeChange(name="city", pii=True, description="Where they live"),
            CustomerAttributeChange(name="plan", type="longtext"),
        ],
        event_attributes=[
            EventAttributeChange(event_type="purchase", name="items", pii=True, type="list")
        ],
        event_types=[EventTypeChange(name="purchase", description="An order was paid")],
    )
    city = CustomerAttribute.objects.get(project=world.project, name="city")
    assert (city.pii, city.description) == (True, "Where they live")
    assert CustomerAttribute.objects.get(project=world.project, name="plan").type == "longtext"
    items = EventAttribute.objects.get(event_type__project=world.project, name="items")
    assert items.pii is True  # type was already "list": no change, no audit
    assert EventType.objects.get(project=world.project, name="purchase").description == (
        "An order was paid"
    )
    assert len(result.changes) == 5
    events = list(AuditEvent.objects.order_by("id")[before:])
    assert [e.action for e in events].count("datamanager.pii_flag") == 2
    flag = next(
        e for e in events if e.details.get("attribute") == "city" and e.action.endswith("flag")
    )
    assert flag.details == {"attribute": "city", "old": False, "new": True}
    assert flag.actor_label == "alice"
    ev_flag = next(e for e in events if e.details.get("attribute") == "items")
    assert ev_flag.details == {
        "event_type": "purchase",
        "attribute": "items",
        "old": False,
        "new": True,
    }
    # Audit details hold names and flags, never a customer's value.
    dump = str([e.details for e in events])
    assert not any(c in dump for c in CANARIES)
    assert "city" in catalog_for_project(world.project.pk).customer_properties


def test_unknown_attribute_changes_nothing(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    before, audits = _state(world), AuditEvent.objects.count()
    with pytest.raises(NotFound) as exc:
        catalog_changes_apply(
            actor=admin,
            customer_attributes=[
                CustomerAttributeChange(name="city", pii=True),
                CustomerAttributeChange(name="nope", pii=True),
            ],
            event_attributes=[EventAttributeChange(event_type="purchase", name="zzz", pii=True)],
        )
    assert exc.value.status_code == 404
    assert len(exc.value.errors) == 2
    assert _state(world) == before
    assert AuditEvent.objects.count() == audits


def test_bad_type_is_400_and_changes_nothing(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    before = _state(world)
    with pytest.raises(InvalidInput) as exc:
        catalog_changes_apply(
            actor=admin,
            customer_attributes=[
                CustomerAttributeChange(name="city", pii=True),
                CustomerAttributeChange(name="plan", type="varchar"),
            ],
        )
    assert exc.value.status_code == 400
    assert "varchar" in exc.value.message and "plan" in exc.value.message
    assert _state(world) == before


def test_unflag_needs_confirmation(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    with pytest.raises(UnflagNotConfirmed) as exc:
        catalog_changes_apply(
            actor=admin,
            customer_attributes=[
                CustomerAttributeChange(name="city", pii=True),
                CustomerAttributeChange(name="phone", pii=False),
            ],
        )
    assert exc.value.names == ["phone"]
    assert CustomerAttribute.objects.get(project=world.project, name="phone").pii is True
    assert CustomerAttribute.objects.get(project=world.project, name="city").pii is False
    catalog_changes_apply(
        actor=admin,
        customer_attributes=[CustomerAttributeChange(name="phone", pii=False)],
        confirm_unflag=True,
    )
    assert CustomerAttribute.objects.get(project=world.project, name="phone").pii is False


def test_needs_manage_data(world: World) -> None:
    marketer = factories.principal_of(world.marketer, world.project)
    with pytest.raises(Forbidden):
        catalog_changes_apply(
            actor=marketer, customer_attributes=[CustomerAttributeChange(name="city", pii=True)]
        )
    assert CustomerAttribute.objects.get(project=world.project, name="city").pii is False


def test_another_projects_attribute_is_not_found(world: World) -> None:
    factories.track_customer(world.other_project, {"registered": "x@other.test"}, {"secret": 1})
    admin = factories.principal_of(world.admin, world.project)
    with pytest.raises(NotFound):
        catalog_changes_apply(
            actor=admin, customer_attributes=[CustomerAttributeChange(name="secret", pii=True)]
        )


def test_listing_an_attribute_twice_is_refused(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    with pytest.raises(InvalidInput):
        catalog_changes_apply(
            actor=admin,
            customer_attributes=[
                CustomerAttributeChange(name="city", pii=True),
                CustomerAttributeChange(name="city", pii=False),
            ],
        )


def test_a_failure_half_way_rolls_everything_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Save is atomic: if the second write fails, the first is undone too."""
    import datamanager.services.catalog_changes as services

    admin = factories.principal_of(world.admin, world.project)
    before, audits = _state(world), AuditEvent.objects.count()
    real = services.audit_record
    calls = {"n": 0}

    def failing_audit(**kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "audit_record", failing_audit)
    with pytest.raises(RuntimeError):
        catalog_changes_apply(
            actor=admin,
            customer_attributes=[
                CustomerAttributeChange(name="city", pii=True),
                CustomerAttributeChange(name="plan", pii=True),
            ],
        )
    assert _state(world) == before
    assert AuditEvent.objects.count() == audits
