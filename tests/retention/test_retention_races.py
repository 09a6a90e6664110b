"""A retention run racing tracking on PostgreSQL (two connections): what is tracked wins.

A chunk picks its customers, locks them, then removes the attribute only from those still
selected in the same ``UPDATE`` (docs/data-subject-rights.md). So a customer whose update
commits while the chunk waits for its lock becomes active again and keeps the new value;
the race is set up deterministically as in tests/customers/test_concurrency.py (the
tracking transaction is held open until the run is seen waiting in ``pg_locks``).
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from access.principal import Principal
from customers.models import Customer
from customers.services.tracking import customer_update, event_track
from retention import services
from retention.models import RetentionRun
from tests import factories
from tests.conftest import World
from tests.customers.test_concurrency import Held, postgres_only, racing
from tests.retention.test_retention import LONG_AGO, _policy

pytestmark = [pytest.mark.django_db(transaction=True), postgres_only]

NEW_PHONE = "+421 955 999 000"


def _inactive(world: World, n: int) -> Customer:
    customer = factories.track_customer(
        world.project,
        {"registered": f"race{n}@retention.test"},
        {"phone": f"+421 955 000 {n:03d}", "city": "Nitra"},
        [],
    )
    Customer.objects.filter(pk=customer.pk).update(updated_at=LONG_AGO)
    return customer


def _start(actor: Principal, policy_pk: int) -> RetentionRun:
    return services.retention_run_start(
        actor=actor, policy_pk=policy_pk, trigger=RetentionRun.Trigger.MANUAL, start=False
    )


def test_an_update_committed_while_the_chunk_waits_keeps_its_value(world: World) -> None:
    Customer.objects.filter(pk=world.customer.pk).update(updated_at=timezone.now())
    admin = factories.principal_of(world.admin, world.project)
    tracked, other = _inactive(world, 1), _inactive(world, 2)
    policy = _policy(admin, "attribute", attribute="phone")
    assert services.retention_preview(admin, policy).count == 2
    run = _start(admin, policy.pk)

    system = factories.system(world.project)
    held = Held(
        lambda: customer_update(
            actor=system,
            ids={"registered": "race1@retention.test"},
            properties={"phone": NEW_PHONE},
        )
    ).hold()
    (runner,) = racing(lambda: services.retention_run_all(run_id=run.pk, size=10))
    held.finish()
    finished = runner.outcome()

    assert finished.status == "done"
    assert Customer.objects.get(pk=tracked.pk).properties["phone"] == NEW_PHONE
    assert "phone" not in Customer.objects.get(pk=other.pk).properties
    assert services.retention_preview(admin, policy).count == 0  # the tracked one is active


def test_an_event_committed_while_the_chunk_waits_makes_the_customer_active(world: World) -> None:
    Customer.objects.filter(pk=world.customer.pk).update(updated_at=timezone.now())
    admin = factories.principal_of(world.admin, world.project)
    tracked = _inactive(world, 3)
    policy = _policy(admin, "attribute", attribute="phone")
    run = _start(admin, policy.pk)

    system = factories.system(world.project)
    held = Held(
        lambda: event_track(
            actor=system, ids={"registered": "race3@retention.test"}, event_type="page_visit"
        )
    ).hold()
    (runner,) = racing(lambda: services.retention_run_all(run_id=run.pk, size=10))
    held.finish()
    assert runner.outcome().status == "done"
    assert Customer.objects.get(pk=tracked.pk).properties["phone"] == "+421 955 000 003"
