"""Retention selects attributes by name whatever characters the name holds.

On SQLite a JSON path matches a key as Django stores it, escaped (``příjmení`` is stored as
``"p\\u0159\\u00edjmen\\u00ed"``), so a policy on such a name used to select nobody: the
preview said 0 and the run removed nothing, on both the attribute and the event kinds.
"""

from __future__ import annotations

from typing import Any

import pytest

from customers.models import Customer, Event
from datamanager.services import pii_flags_set
from retention import services
from tests import factories
from tests.conftest import World
from tests.retention.test_retention import LONG_AGO, _policy, _run

pytestmark = pytest.mark.django_db

NAMES = ["příjmení", 'say "hi"', "back\\slash", "plain"]


def _old_customer(world: World, n: int, properties: dict[str, Any], event: dict[str, Any]) -> Any:
    customer = factories.track_customer(
        world.project, {"registered": f"keys{n}@retention.test"}, properties, [("order", event)]
    )
    Customer.objects.filter(pk=customer.pk).update(updated_at=LONG_AGO)
    Event.objects.filter(customer=customer).update(timestamp=LONG_AGO)
    return customer


@pytest.mark.parametrize("name", NAMES)
def test_attribute_policy_on_any_name_removes_it(world: World, name: str) -> None:
    admin = factories.principal_of(world.admin, world.project)
    holder = _old_customer(world, 1, {name: "Nováková", "city": "Brno"}, {})
    other = _old_customer(world, 2, {"city": "Brno"}, {})

    policy = _policy(admin, "attribute", attribute=name)
    assert services.retention_preview(admin, policy).count == 1
    run = _run(admin, policy)
    assert (run.status, run.done) == ("done", 1)
    assert Customer.objects.get(pk=holder.pk).properties == {"city": "Brno"}
    assert name not in Customer.objects.get(pk=holder.pk).property_timestamps
    assert Customer.objects.get(pk=other.pk).properties == {"city": "Brno"}


def test_events_strip_policy_on_non_ascii_pii_names(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    _old_customer(world, 1, {}, {"adresa doručení": "Hlavní 1", "total": 3})
    _old_customer(world, 2, {}, {"total": 4})
    pii_flags_set(actor=admin, event_attributes={("order", "adresa doručení"): True})

    policy = _policy(admin, "events_strip", event_type="order")
    assert services.retention_preview(admin, policy).count == 1
    assert _run(admin, policy).done == 1
    stored = sorted(
        (e.properties for e in Event.objects.filter(event_type__name="order")),
        key=lambda p: p["total"],
    )
    assert stored == [{"total": 3}, {"total": 4}]
