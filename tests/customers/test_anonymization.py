"""The anonymization service: exact semantics, idempotence, chunks, jobs, the JSON helper."""

from __future__ import annotations

from typing import Any

import pytest

from access.errors import Forbidden, InvalidInput
from access.models import AuditEvent
from customers.models import AnonymizationJob, AnonymizationJobItem, Customer, CustomerId, Event
from customers.services import anonymization_job_create, customer_anonymize
from customers.services.anonymization import anonymization_preview
from customers.services.anonymization_jobs import (
    anonymization_entries_resolve,
    anonymization_job_step,
)
from customers.services.anonymization_sql import JsonWithoutKeys
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, World

pytestmark = pytest.mark.django_db


def assert_anonymized(customer: Customer, *, source: str) -> None:
    """Everything the issue's semantics promise, checked in the database."""
    customer.refresh_from_db()
    assert customer.anonymized_at is not None
    assert customer.properties == {"city": "Bratislava", "plan": "premium"}
    assert set(customer.property_timestamps) == {"city", "plan"}
    ids = list(CustomerId.objects.filter(customer=customer).values_list("name", "value"))
    assert len(ids) == 1 and ids[0][0] == "cookie" and ids[0][1] != "ck-canary-1"
    events = {
        e.event_type.name: e.properties
        for e in Event.objects.filter(customer=customer).select_related("event_type")
    }
    assert events["page_visit"] == {"url": "https://shop.example.com/sale"}
    assert events["purchase"] == {"total": 42.5, "items": ["Backpack"]}
    assert events["anonymization"] == {"source": source}
    assert Event.objects.filter(customer=customer, event_type__name="anonymization").count() == 1
    audits = AuditEvent.objects.filter(action="customer.anonymize", target_id=str(customer.pk))
    assert audits.count() == 1
    dump = repr(list(Customer.objects.filter(pk=customer.pk).values())) + repr(
        list(Event.objects.filter(customer=customer).values())
    )
    dump += repr(list(audits.values()))
    assert not [c for c in CANARIES if c in dump]


def test_anonymize_removes_pii_keeps_the_rest_and_tracks_once(world: World) -> None:
    actor = factories.principal_of(world.admin, world.project)
    done = customer_anonymize(actor=actor, customers=[world.customer], source="app")
    assert done == [world.customer.pk]
    assert_anonymized(world.customer, source="app")
    audit = AuditEvent.objects.get(action="customer.anonymize")
    assert audit.actor_user == world.admin and audit.details == {"source": "app"}


def test_second_run_changes_nothing_and_tracks_nothing(world: World) -> None:
    actor = factories.system(world.project)
    customer_anonymize(actor=actor, customers=[world.customer.pk], source="cli")
    world.customer.refresh_from_db()
    before = (world.customer.properties, world.customer.anonymized_at)
    cookie = CustomerId.objects.get(customer=world.customer).value
    events = Event.objects.count()
    audits = AuditEvent.objects.count()

    assert customer_anonymize(actor=actor, customers=[world.customer.pk], source="cli") == []

    world.customer.refresh_from_db()
    assert (world.customer.properties, world.customer.anonymized_at) == before
    assert CustomerId.objects.get(customer=world.customer).value == cookie
    assert Event.objects.count() == events and AuditEvent.objects.count() == audits


def test_other_customers_and_other_projects_are_untouched(world: World) -> None:
    bystander = factories.track_customer(
        world.project,
        {"registered": "by@x.test"},
        {"email": "by@x.test"},
        [("page_visit", {"ip": "1.1.1.1"})],
    )
    foreign = factories.track_customer(world.other_project, {"registered": "f@x.test"}, {"a": 1})
    actor = factories.system(world.project)
    done = customer_anonymize(actor=actor, customers=[world.customer, foreign], source="api")
    assert done == [world.customer.pk]
    bystander.refresh_from_db()
    foreign.refresh_from_db()
    assert bystander.properties == {"email": "by@x.test"} and bystander.anonymized_at is None
    assert Event.objects.get(customer=bystander).properties == {"ip": "1.1.1.1"}
    assert foreign.anonymized_at is None
    assert CustomerId.objects.filter(customer=foreign, value="f@x.test").exists()


def test_restricted_principal_cannot_anonymize(world: World) -> None:
    marketer = factories.principal_of(world.marketer, world.project)
    with pytest.raises(Forbidden):
        customer_anonymize(actor=marketer, customers=[world.customer], source="app")
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None
    assert world.customer.properties["email"] == CANARY_EMAIL


def test_unknown_source_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput):
        customer_anonymize(
            actor=factories.system(world.project), customers=[world.customer], source="x"
        )


def test_chunks_give_the_same_result(world: World, settings: Any) -> None:
    settings.ANONYMIZATION_CHUNK_SIZE = 2
    others = [
        factories.track_customer(world.project, {"registered": f"c{i}@x.test"}, {"email": "e"})
        for i in range(5)
    ]
    actor = factories.system(world.project)
    done = customer_anonymize(actor=actor, customers=[world.customer, *others], source="cli")
    assert len(done) == 6
    assert_anonymized(world.customer, source="cli")
    assert Customer.objects.filter(anonymized_at__isnull=True, project=world.project).count() == 0
    cookies = list(CustomerId.objects.filter(project=world.project).values_list("name", "value"))
    assert len(cookies) == 6 and {name for name, _ in cookies} == {"cookie"}
    # Fresh random tokens from the database: 32 hex characters, all different.
    assert all(len(v) == 32 and set(v) <= set("0123456789abcdef") for _, v in cookies)
    assert len({v for _, v in cookies}) == 6


def test_preview_names_attributes_and_counts_without_values(world: World) -> None:
    actor = factories.principal_of(world.admin, world.project)
    preview = anonymization_preview(actor=actor, customer=world.customer)
    assert preview.properties == ("email", "first_name", "phone")
    assert preview.id_names == (("cookie", 1), ("registered", 1))
    assert preview.events == (("page_visit", "ip", 1), ("purchase", "shipping_address", 1))


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ([], {"a": 1, 'q"t': 2, "c.d": 3, "x": True, "n": None, "o": {"p": [1, False]}}),
        (["a", "c.d"], {'q"t': 2, "x": True, "n": None, "o": {"p": [1, False]}}),
        (['q"t', "o", "missing"], {"a": 1, "c.d": 3, "x": True, "n": None}),
        (["a", 'q"t', "c.d", "x", "n", "o"], {}),
    ],
)
def test_json_without_keys_on_this_database(world: World, keys: list[str], expected: Any) -> None:
    """The one vendor-specific expression, on whichever database the suite runs on."""
    doc = {"a": 1, 'q"t': 2, "c.d": 3, "x": True, "n": None, "o": {"p": [1, False]}}
    customer = Customer.objects.create(project=world.project, properties=doc)
    Customer.objects.filter(pk=customer.pk).update(properties=JsonWithoutKeys("properties", keys))
    customer.refresh_from_db()
    assert customer.properties == expected


def test_entries_resolve_by_position_with_hard_ids_winning(world: World) -> None:
    soft = factories.track_customer(world.project, {"cookie": "only-cookie"})
    resolved = anonymization_entries_resolve(
        actor=factories.system(world.project),
        entries=[
            {"customer_ids": {"registered": CANARY_EMAIL}},
            {"customer_ids": {"registered": "nobody@x.test"}},
            {"internal_id": str(soft.pk)},
            {"internal_id": "999999"},
            {"customer_ids": {"cookie": "only-cookie", "registered": CANARY_EMAIL}},
            {"internal_id": "not-a-number"},
        ],
    )
    assert resolved == [world.customer.pk, None, soft.pk, None, world.customer.pk, None]


@pytest.mark.parametrize(
    "entry",
    [
        {"customer_ids": {"email_hash": "x"}},
        {"customer_ids": {}},
        {"customer_ids": {"registered": "a"}, "internal_id": "1"},
        {},
        "registered",
    ],
)
def test_entries_resolve_refuses_malformed_entries_by_position(world: World, entry: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        anonymization_entries_resolve(
            actor=factories.system(world.project), entries=[{"internal_id": "1"}, entry]
        )
    assert "customers[1]" in exc.value.message


def test_job_processes_in_chunks_committing_progress(world: World) -> None:
    others = [
        factories.track_customer(world.project, {"registered": f"j{i}@x.test"}, {"email": "e"})
        for i in range(4)
    ]
    actor = factories.system(world.project)
    pks = [world.customer.pk, *(c.pk for c in others)]
    job = anonymization_job_create(
        actor=actor, source="cli", customers=[*pks, pks[0]], not_found=[7], start=False
    )
    assert (job.status, job.total, job.done, job.not_found) == ("queued", 5, 0, [7])
    assert sorted(
        AnonymizationJobItem.objects.filter(job=job).values_list("customer_id", flat=True)
    ) == sorted(pks)

    assert anonymization_job_step(job_id=job.pk, size=2) is True
    job.refresh_from_db()
    assert (job.status, job.done) == ("running", 2) and job.started_at is not None
    assert Customer.objects.filter(pk__in=pks, anonymized_at__isnull=False).count() == 2

    while anonymization_job_step(job_id=job.pk, size=2):
        pass
    job.refresh_from_db()
    assert (job.status, job.done, job.percent) == ("done", 5, 100) and job.finished_at
    assert_anonymized(world.customer, source="cli")
    assert AuditEvent.objects.filter(action="customer.anonymize").count() == 5
    assert anonymization_job_step(job_id=job.pk) is False


def test_job_from_a_queryset_inserts_items_in_sql(world: World) -> None:
    factories.track_customer(world.project, {"registered": "q@x.test"})
    factories.track_customer(world.other_project, {"registered": "q@x.test"})
    actor = factories.system(world.project)
    job = anonymization_job_create(
        actor=actor, source="app", customers=Customer.objects.all(), start=False
    )
    assert job.total == 2  # the other project's customer is not the actor's to anonymize


def test_job_started_without_broker_runs_in_process(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    actor = factories.principal_of(world.admin, world.project)
    with django_capture_on_commit_callbacks(execute=True):
        job = anonymization_job_create(actor=actor, source="app", customers=[world.customer.pk])
    job.refresh_from_db()
    assert (job.status, job.done) == ("done", 1)
    assert_anonymized(world.customer, source="app")


def test_job_fails_cleanly_when_the_requester_lost_the_permission(world: World) -> None:
    from access.models import Role

    actor = factories.principal_of(world.admin, world.project)
    job = anonymization_job_create(
        actor=actor, source="app", customers=[world.customer.pk], start=False
    )
    world.admin.groups.remove(Role.objects.get(project=world.project, name="Admin").group)
    assert anonymization_job_step(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == AnonymizationJob.Status.FAILED
    assert "anonymize_customers" in job.error or "member" in job.error
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None
