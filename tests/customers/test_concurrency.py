"""Issue 21: no race brings PII back (tracking, merges, anonymization, flag changes).

Each race is reproduced deterministically on PostgreSQL: one thread does its write inside
a transaction and holds it open (its row or catalog locks taken), the other request starts
and is seen waiting on a lock in ``pg_locks``, then the first commits. SQLite serializes
writers, so those races cannot happen there and those tests are skipped; the tests at the
end (flags applied to earlier anonymized customers, idempotent bulk jobs, merged-away
customers) run on both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from customers.models import AnonymizationJob, AnonymizationJobItem, Customer, CustomerId, Event
from customers.services.anonymization import customer_anonymize, customer_anonymize_one
from customers.services.anonymization_jobs import anonymization_job_create
from customers.services.suppression import IdentitySuppressed
from customers.services.tracking import customer_update, event_track
from customers.services.tracking_batch import tracking_batch
from datamanager.catalog import catalog_load
from datamanager.services import pii_flags_set
from tests import factories
from tests.conftest import CANARY_EMAIL, CANARY_IP, CANARY_PHONE, World

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serializes writers: no such race"
)


class Held(threading.Thread):
    """Runs ``work`` in a transaction and keeps it open until ``release`` is set."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.ready = threading.Event()
        self.release = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.result = self.work()
                self.ready.set()
                assert self.release.wait(30)
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            self.ready.set()
            connection.close()

    def hold(self) -> Held:
        self.start()
        assert self.ready.wait(30)
        assert self.error is None, self.error
        return self

    def finish(self) -> Any:
        self.release.set()
        self.join(30)
        assert self.error is None, repr(self.error)
        return self.result


class Racer(threading.Thread):
    """Runs ``work`` as a request would: its own transactions, on its own connection."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()

    def outcome(self) -> Any:
        self.join(30)
        assert not self.is_alive()
        assert self.error is None, repr(self.error)
        return self.result


def wait_until_waiting(count: int = 1) -> None:
    """Until ``count`` other sessions wait for a lock (the race is then set up)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
            (waiting,) = cursor.fetchone()
        if waiting >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"expected {count} request(s) waiting on a lock")


def racing(*works: Callable[[], Any]) -> list[Racer]:
    racers = [Racer(w) for w in works]
    for r in racers:
        r.start()
    wait_until_waiting(len(racers))
    return racers


def assert_no_pii_on(customer_pk: int, project_id: int, *, since_anonymization: bool) -> None:
    """The integrity rule: an anonymized customer holds no PII property, ID or event attribute."""
    customer = Customer.objects.get(pk=customer_pk)
    assert customer.anonymized_at is not None
    catalog = catalog_load(project_id)
    assert not set(customer.properties) & catalog.customer_properties, customer.properties
    ids = list(CustomerId.objects.filter(customer=customer).values_list("name", "value"))
    assert len(ids) == 1 and ids[0][0] == "cookie" and len(ids[0][1]) == 32, ids
    for type_name, props in Event.objects.filter(customer=customer).values_list(
        "event_type__name", "properties"
    ):
        assert not set(props) & catalog.event_pii(type_name), (type_name, props)
    if since_anonymization:
        for value in (CANARY_EMAIL, CANARY_PHONE, CANARY_IP):
            assert value not in str(customer.properties)


# 1. Tracking that resolved the IDs before an anonymization committed -----------------------


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_tracking_that_waited_on_an_anonymization_never_writes_pii_onto_it(world: World) -> None:
    actor = factories.system(world.project)
    anonymized_pk = world.customer.pk
    before = Event.objects.filter(project=world.project).count()
    held = Held(
        lambda: customer_anonymize(actor=actor, customers=[anonymized_pk], source="api")
    ).hold()
    racers = racing(
        lambda: customer_update(
            actor=actor,
            ids={"registered": CANARY_EMAIL},
            properties={"email": CANARY_EMAIL, "phone": CANARY_PHONE, "plan": "gold"},
        ),
        lambda: event_track(
            actor=actor,
            ids={"registered": CANARY_EMAIL, "cookie": "ck-late"},
            event_type="page_visit",
            properties={"ip": CANARY_IP, "url": "https://shop.example.com/late"},
        ),
        lambda: tracking_batch(
            actor=actor,
            commands=[
                {
                    "name": "customers/events",
                    "data": {
                        "customer_ids": {"cookie": "ck-canary-1"},
                        "event_type": "page_visit",
                        "properties": {"ip": CANARY_IP, "url": "https://shop.example.com/b"},
                    },
                }
            ],
        ),
    )
    assert held.finish() == [anonymized_pk]
    # The two calls carrying the erased customer's hard ID waited for the anonymization and
    # are then refused by the suppression check inside their transaction (issue 17: an
    # erased person is not silently re-created); they wrote nothing.
    for racer in racers[:2]:
        racer.join(30)
        assert isinstance(racer.error, IdentitySuppressed), repr(racer.error)
    assert racers[2].outcome() == [{"success": True}]

    assert_no_pii_on(anonymized_pk, world.project.pk, since_anonymization=True)
    assert not CustomerId.objects.filter(
        project=world.project, name="registered", value=CANARY_EMAIL
    ).exists()
    assert not CustomerId.objects.filter(name="cookie", value="ck-late").exists()
    # The stale soft ID (not suppressed) started a new profile, which got what was sent.
    fresh_pk = CustomerId.objects.get(name="cookie", value="ck-canary-1").customer_id
    assert fresh_pk != anonymized_pk
    assert Customer.objects.get(pk=fresh_pk).anonymized_at is None
    # Acknowledged events are stored: 1 tracked + 1 anonymization event.
    assert Event.objects.filter(project=world.project).count() == before + 2
    assert not Event.objects.filter(customer_id=anonymized_pk, timestamp__gt=held_time(held))


def held_time(held: Held) -> Any:
    return Customer.objects.get(pk=held.result[0]).anonymized_at


@pytest.mark.django_db(transaction=True)
def test_only_the_anonymized_customers_own_cookie_reaches_it_and_without_pii(world: World) -> None:
    actor = factories.system(world.project)
    customer_anonymize(actor=actor, customers=[world.customer.pk], source="api")
    cookie = CustomerId.objects.get(customer=world.customer).value
    tracking_batch(
        actor=actor,
        commands=[
            {
                "name": "customers",
                "data": {
                    "customer_ids": {"cookie": cookie},
                    "properties": {"email": CANARY_EMAIL, "plan": "gold"},
                },
            },
            {
                "name": "customers/events",
                "data": {
                    "customer_ids": {"cookie": cookie},
                    "event_type": "page_visit",
                    "properties": {"ip": CANARY_IP, "url": "https://shop.example.com/x"},
                },
            },
        ],
    )
    event_track(
        actor=actor,
        ids={"cookie": cookie},
        event_type="purchase",
        properties={"shipping_address": "1 Road", "total": 3},
    )
    customer_update(actor=actor, ids={"cookie": cookie}, properties={"phone": CANARY_PHONE})
    # With a hard ID the anonymized profile is not reused: a new one starts, the cookie stays.
    customer_update(
        actor=actor, ids={"cookie": cookie, "registered": "new@x.test"}, properties={"a": 1}
    )
    world.customer.refresh_from_db()
    assert world.customer.properties.get("plan") == "gold"
    assert_no_pii_on(world.customer.pk, world.project.pk, since_anonymization=True)
    assert Event.objects.filter(customer=world.customer, properties__url__endswith="/x").exists()
    assert Event.objects.filter(customer=world.customer, properties__total=3).exists()
    assert CustomerId.objects.get(value="new@x.test").customer_id != world.customer.pk


# 2. A flag saved during an anonymization ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_a_flag_being_saved_is_applied_by_an_anonymization_that_waits_for_it(
    world: World,
) -> None:
    actor = factories.system(world.project)
    held = Held(
        lambda: pii_flags_set(
            actor=actor,
            customer_attributes={"city": True},
            event_attributes={("page_visit", "url"): True},
        )
    ).hold()
    (racer,) = racing(
        lambda: customer_anonymize(actor=actor, customers=[world.customer.pk], source="api")
    )
    held.finish()
    assert racer.outcome() == [world.customer.pk]
    world.customer.refresh_from_db()
    assert "city" not in world.customer.properties
    assert not Event.objects.filter(customer=world.customer, properties__has_key="url").exists()
    assert_no_pii_on(world.customer.pk, world.project.pk, since_anonymization=True)


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_a_flag_saved_while_an_anonymization_runs_is_removed_after_it(world: World) -> None:
    actor = factories.system(world.project)
    held = Held(
        lambda: customer_anonymize(actor=actor, customers=[world.customer.pk], source="api")
    ).hold()
    (racer,) = racing(lambda: pii_flags_set(actor=actor, customer_attributes={"city": True}))
    held.finish()
    racer.outcome()
    world.customer.refresh_from_db()
    assert "city" not in world.customer.properties  # removed by the flag's clean-up job
    job = AnonymizationJob.objects.get(source=AnonymizationJob.Source.CATALOG)
    assert job.status == AnonymizationJob.Status.DONE and job.total == job.done == 1


# 4. Anonymize while the customer is merged away --------------------------------------------


def _visitor(world: World) -> Customer:
    return factories.track_customer(
        world.project,
        {"cookie": "ck-visitor"},
        {"first_name": "Visitor", "plan": "trial"},
        [("page_visit", {"ip": CANARY_IP, "url": "https://shop.example.com/v"})],
    )


def _login_merge(world: World) -> Callable[[], Any]:
    actor = factories.system(world.project)
    return lambda: customer_update(
        actor=actor, ids={"registered": CANARY_EMAIL, "cookie": "ck-visitor"}, properties={}
    )


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_anonymize_by_id_follows_a_customer_merged_away_meanwhile(world: World) -> None:
    visitor = _visitor(world)
    actor = factories.system(world.project)
    held = Held(_login_merge(world)).hold()  # the visitor is merged into the customer
    (racer,) = racing(
        lambda: customer_anonymize_one(actor=actor, customer_pk=visitor.pk, source="app")
    )
    held.finish()
    outcome = racer.outcome()
    assert (outcome.customer_pk, outcome.merged_from) == (world.customer.pk, visitor.pk)
    assert outcome.anonymized_now
    assert_no_pii_on(world.customer.pk, world.project.pk, since_anonymization=True)


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_api_anonymize_by_ids_follows_the_ids_to_the_survivor(world: World) -> None:
    _visitor(world)
    held = Held(_login_merge(world)).hold()
    url = f"/data/v2/projects/{world.project.token}/customers/anonymize"
    (racer,) = racing(
        lambda: Client().post(
            url,
            {"customer_ids": {"cookie": "ck-visitor"}},
            content_type="application/json",
            HTTP_AUTHORIZATION=world.full_key.basic,
        )
    )
    held.finish()
    response = racer.outcome()
    assert response.status_code == 200, response.content
    assert_no_pii_on(world.customer.pk, world.project.pk, since_anonymization=True)


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_bulk_job_whose_customer_is_merged_before_commit_follows_it(world: World) -> None:
    _visitor(world)
    held = Held(_login_merge(world)).hold()
    url = f"/data/v2/projects/{world.project.token}/customers/anonymize_bulk"
    (racer,) = racing(
        lambda: Client().post(
            url,
            {"customers": [{"customer_ids": {"cookie": "ck-visitor"}}]},
            content_type="application/json",
            HTTP_AUTHORIZATION=world.full_key.basic,
        )
    )
    held.finish()
    response = racer.outcome()
    assert response.status_code == 200, response.content
    job = AnonymizationJob.objects.get(public_id=response.json()["bulk_id"])
    assert job.total == 1
    assert list(AnonymizationJobItem.objects.filter(job=job).values_list("customer_id", flat=True)) == [
        world.customer.pk
    ]  # fmt: skip
    assert_no_pii_on(world.customer.pk, world.project.pk, since_anonymization=True)


# 5. Identify against a concurrent merge: no 500 ---------------------------------------------


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_tracking_a_customer_being_merged_away_lands_on_the_survivor(world: World) -> None:
    _visitor(world)
    actor = factories.system(world.project)
    before = Event.objects.filter(project=world.project).count()
    held = Held(_login_merge(world)).hold()
    racers = racing(
        lambda: event_track(
            actor=actor, ids={"cookie": "ck-visitor"}, event_type="page_visit", properties={}
        ),
        lambda: tracking_batch(
            actor=actor,
            commands=[
                {
                    "name": "customers",
                    "data": {"customer_ids": {"cookie": "ck-visitor"}, "properties": {"n": 1}},
                },
                {
                    "name": "customers/events",
                    "data": {"customer_ids": {"cookie": "ck-visitor"}, "event_type": "cart"},
                },
            ],
        ),
    )
    held.finish()
    event = racers[0].outcome()
    assert racers[1].outcome() == [{"success": True}, {"success": True}]
    assert event.customer_id == world.customer.pk
    world.customer.refresh_from_db()
    assert world.customer.properties["n"] == 1
    assert Event.objects.filter(project=world.project).count() == before + 2


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_batches_naming_the_same_customers_in_opposite_orders_all_succeed(world: World) -> None:
    actor = factories.system(world.project)
    names = [f"p{i}@x.test" for i in range(6)]
    for name in names:
        customer_update(actor=actor, ids={"registered": name}, properties={"n": 0})

    def batch(order: list[str], k: int) -> list[dict[str, Any]]:
        return tracking_batch(
            actor=actor,
            commands=[
                c
                for n in order
                for c in (
                    {"name": "customers", "data": {"customer_ids": {"registered": n}, "properties": {"n": k}}},
                    {"name": "customers/events", "data": {"customer_ids": {"registered": n, "cookie": f"c-{n}-{k}"}, "event_type": "e"}},
                )
            ],
        )  # fmt: skip

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def loop(order: list[str]) -> None:
        try:
            for k in range(10):
                barrier.wait(10)
                assert all(r["success"] for r in batch(order, k))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(o,)) for o in (names, names[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert Event.objects.filter(project=world.project, event_type__name="e").count() == 120


# On both databases -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_flagging_an_attribute_removes_it_from_customers_anonymized_earlier(world: World) -> None:
    actor = factories.system(world.project)
    other = factories.track_customer(world.project, {"registered": "b@x.test"}, {"city": "Brno"})
    customer_anonymize(actor=actor, customers=[world.customer.pk], source="api")
    world.customer.refresh_from_db()
    assert world.customer.properties["city"] == "Bratislava"  # not PII then

    pii_flags_set(
        actor=actor,
        customer_attributes={"city": True},
        event_attributes={("page_visit", "url"): True},
    )
    world.customer.refresh_from_db()
    assert "city" not in world.customer.properties
    assert not Event.objects.filter(customer=world.customer, properties__has_key="url").exists()
    other.refresh_from_db()
    assert other.properties["city"] == "Brno"  # not anonymized: masking covers it
    job = AnonymizationJob.objects.get(source=AnonymizationJob.Source.CATALOG)
    assert (job.status, job.total, job.done) == ("done", 1, 1)
    assert AuditEvent.objects.filter(
        action="customer.pii_removed", target_id=str(world.customer.pk)
    ).exists()


def test_a_double_submitted_bulk_request_shows_the_first_job(world: World) -> None:
    url = f"/data/v2/projects/{world.project.token}/customers/anonymize_bulk"
    body = {"customers": [{"customer_ids": {"registered": CANARY_EMAIL}}]}
    client = Client()
    answers = [
        client.post(
            url, body, content_type="application/json", HTTP_AUTHORIZATION=world.full_key.basic
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json()["bulk_id"] == answers[1].json()["bulk_id"]
    assert AnonymizationJob.objects.filter(project=world.project).count() == 1
    # A different request is a different job.
    other = client.post(
        url,
        {"customers": [{"internal_id": str(world.customer.pk)}, {"internal_id": "999999"}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )
    assert other.json()["bulk_id"] != answers[0].json()["bulk_id"]


def test_a_double_submitted_bulk_form_shows_the_first_job(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    url = reverse("customers:anonymize_bulk", kwargs={"token": world.project.token})
    data = {"customer": [str(world.customer.pk)], "confirm": "1", "filter": ""}
    first = client.post(url, data)
    second = client.post(url, data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert AnonymizationJob.objects.filter(project=world.project).count() == 1


@pytest.mark.django_db(transaction=True)
def test_bulk_job_over_a_customer_merged_earlier_anonymizes_the_survivor(world: World) -> None:
    visitor = _visitor(world)
    _login_merge(world)()
    job = anonymization_job_create(
        actor=factories.system(world.project), source="api", customers=[visitor.pk]
    )
    job.refresh_from_db()
    assert (job.total, job.status) == (1, "done")
    assert_no_pii_on(world.customer.pk, world.project.pk, since_anonymization=True)


def test_anonymizing_a_customer_that_is_gone_says_not_found(world: World) -> None:
    from access.errors import NotFound

    with pytest.raises(NotFound):
        customer_anonymize_one(
            actor=factories.system(world.project), customer_pk=987654, source="app"
        )
