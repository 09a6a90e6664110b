"""One way to find the customer that IDs name: the same tie-break on every path.

When a request's IDs name several customers, the API's reads, single and bulk
anonymization and tracking all pick the same one (``customers.selectors.id_owner_pick``):
the customer holding the first hard ID, else the lowest internal id, which is where
tracking merges the others. Before, anonymization took the first soft ID *by name*, so an
anonymization by ``{"cookie", "device"}`` erased a different person than the one the API
showed and tracking kept.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from customers.models import Customer
from customers.selectors import customer_pk_for_ids, customer_pks_for_ids
from customers.services import customer_update, event_track
from customers.services.anonymization import customer_anonymize_one
from customers.services.anonymization_jobs import anonymization_entries_resolve
from datamanager.models import AttributeKind
from datamanager.services import attribute_declare

from .. import factories
from ..conftest import World

pytestmark = pytest.mark.django_db


def two_people(world: World) -> tuple[Customer, Customer, dict[str, str]]:
    """``first`` (lower id) holds device d-1, ``second`` cookie c-1: soft IDs only, and
    ``cookie`` sorts before ``device``, so "first soft ID by name" picks ``second``."""
    actor = factories.system(world.project)
    attribute_declare(actor=actor, name="device", kind=AttributeKind.ID)
    first = customer_update(actor=actor, ids={"device": "d-1"}, properties={"who": "first"})
    second = customer_update(actor=actor, ids={"cookie": "c-1"}, properties={"who": "second"})
    assert first.customer.pk < second.customer.pk
    return first.customer, second.customer, {"cookie": "c-1", "device": "d-1"}


def data_api(world: World, path: str, body: Any) -> Any:
    return Client().post(
        f"/data/v2/projects/{world.project.token}/customers/{path}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )


def anonymized(customer: Customer) -> bool:
    customer.refresh_from_db()
    return customer.anonymized_at is not None


def test_the_selector_and_its_batch_variant_agree(world: World) -> None:
    first, second, ids = two_people(world)
    principal = world.full_key.principal
    assert customer_pk_for_ids(principal, ids) == first.pk
    assert customer_pks_for_ids(
        principal, [ids, {"cookie": "c-1"}, {"device": "nobody"}, {}, ids]
    ) == [first.pk, second.pk, None, None, first.pk]
    # Scoped to the principal's project: another project's key finds nobody.
    other = factories.make_key(world.other_project, "read_customers", name="Other")
    assert customer_pk_for_ids(other.principal, ids) is None


def test_the_api_read_shows_the_customer_the_selector_picks(world: World) -> None:
    _, _, ids = two_people(world)
    body = data_api(world, "export-one", {"customer_ids": ids}).json()
    assert body["properties"]["who"] == "first"


def test_single_anonymization_erases_that_customer(world: World) -> None:
    first, second, ids = two_people(world)
    outcome = customer_anonymize_one(actor=world.full_key.principal, ids=ids, source="api")
    assert outcome.customer_pk == first.pk
    assert anonymized(first) and not anonymized(second)


def test_the_single_anonymize_endpoint_erases_that_customer(world: World) -> None:
    first, second, ids = two_people(world)
    assert data_api(world, "anonymize", {"customer_ids": ids}).status_code == 200
    assert anonymized(first) and not anonymized(second)


def test_bulk_anonymization_erases_that_customer(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    first, second, ids = two_people(world)
    assert anonymization_entries_resolve(
        actor=world.full_key.principal,
        entries=[{"customer_ids": ids}, {"customer_ids": {"cookie": "c-1"}}],
    ) == [first.pk, second.pk]
    with django_capture_on_commit_callbacks(execute=True):
        response = data_api(world, "anonymize_bulk", {"customers": [{"customer_ids": ids}]})
    assert response.status_code == 200, response.content
    assert anonymized(first) and not anonymized(second)


def test_tracking_keeps_that_customer(world: World) -> None:
    first, second, ids = two_people(world)
    event_track(
        actor=factories.system(world.project),
        ids=ids,
        event_type="page_visit",
        timestamp=1_700_000_000,
        properties={},
    )
    assert Customer.objects.filter(pk=first.pk).exists()
    assert not Customer.objects.filter(pk=second.pk).exists()  # merged into first


def test_a_hard_id_wins_over_a_lower_internal_id(world: World) -> None:
    actor = factories.system(world.project)
    soft = customer_update(actor=actor, ids={"cookie": "c-2"}, properties={}).customer
    hard = customer_update(actor=actor, ids={"registered": "r@x.test"}, properties={}).customer
    assert soft.pk < hard.pk
    ids = {"cookie": "c-2", "registered": "r@x.test"}
    assert customer_pk_for_ids(world.full_key.principal, ids) == hard.pk
    assert anonymization_entries_resolve(
        actor=world.full_key.principal, entries=[{"customer_ids": ids}]
    ) == [hard.pk]
    outcome = customer_anonymize_one(actor=world.full_key.principal, ids=ids, source="api")
    assert outcome.customer_pk == hard.pk
    assert anonymized(hard) and not anonymized(soft)
