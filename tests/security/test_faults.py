"""Faults: the database connection dropping in the middle of a write, and Redis being down.

A dropped connection is simulated with a connection ``execute_wrapper`` that raises
``OperationalError`` on the Nth query of the operation — for every N the operation issues,
so the drop lands once after each statement. Each run must leave nothing half-written, and
a retry of the same operation must succeed and write everything exactly once.
These tests use real transactions (``transaction=True``), not the test's own savepoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings

from customers.models import AnonymizationJob, AnonymizationJobItem, Customer, CustomerId, Event
from datamanager.models import CustomerAttribute, EventAttribute, EventType
from datamanager.services import pii_flags_set
from tests import factories

from .conftest import signed_in

DOWN_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1 of the loopback


class DropAt:
    """Raise OperationalError on the ``n``-th query after it is installed (0 = never)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        self.count += 1
        if self.count == self.n:
            raise OperationalError("server closed the connection unexpectedly (simulated)")
        return execute(sql, params, many, context)


@contextmanager
def drop_at(n: int) -> Iterator[DropAt]:
    wrapper = DropAt(n)
    with connection.execute_wrapper(wrapper):
        yield wrapper


def drop_everywhere(
    operation: Callable[[], Any], unchanged: Callable[[int], None]
) -> tuple[int, Any]:
    """Run ``operation`` with the drop at query 1, 2, 3, ... until a run gets through.

    After each dropped run ``unchanged(n)`` checks nothing was written. The run that gets
    through (the drop point lies past its last query) is the successful retry; returns how
    many drop points were tried and that run's result.
    """
    n = 1
    while True:
        with drop_at(n) as wrapper:
            try:
                result = operation()
            except OperationalError as exc:
                # The simulated drop, not a real error (the savepoint rollback that follows
                # the drop is a query too, so the count runs past n).
                assert "simulated" in str(exc) and wrapper.count >= n
                unchanged(n)
                n += 1
                continue
        assert wrapper.count < n
        return n - 1, result


def _state(project: Any) -> dict[str, Any]:
    """What the project holds, for before/after comparisons."""
    return {
        "customers": sorted(
            Customer.objects.filter(project=project).values_list(
                "pk", "properties", "anonymized_at"
            )
        ),
        "ids": sorted(
            CustomerId.objects.filter(project=project).values_list("name", "value", "customer_id")
        ),
        "events": sorted(
            (e.customer_id, e.event_type.name, sorted(e.properties.items()))
            for e in Event.objects.filter(project=project).select_related("event_type")
        ),
        "catalog": sorted(
            CustomerAttribute.objects.filter(project=project).values_list("name", "pii")
        ),
        "event_types": sorted(
            EventType.objects.filter(project=project).values_list("name", flat=True)
        ),
        "event_attributes": sorted(
            EventAttribute.objects.filter(event_type__project=project).values_list(
                "event_type__name", "name"
            )
        ),
    }


# Tracking -----------------------------------------------------------------------------------


def _batch(tag: str) -> list[dict[str, Any]]:
    """Known and new customers, properties and events, as a script would send them."""
    commands: list[dict[str, Any]] = []
    for i in range(6):
        ids = {"registered": f"{tag}-{i}@example.org", "cookie": f"ck-{tag}-{i}"}
        commands.append(
            {
                "name": "customers",
                "data": {"customer_ids": ids, "properties": {"plan": "basic", f"p_{tag}": i}},
            }
        )
        commands.append(
            {
                "name": "customers/events",
                "data": {
                    "customer_ids": ids,
                    "event_type": f"visit_{tag}",
                    "timestamp": 1_700_000_000 + i,
                    "properties": {"n": i},
                },
            }
        )
    return commands


@pytest.mark.django_db(transaction=True)
def test_tracking_batch_dropped_at_every_query_writes_nothing_and_a_retry_succeeds() -> None:
    from customers.services.tracking_batch import tracking_batch

    project = factories.make_project("Faulty tracking")
    actor = factories.make_key(project, "track").principal
    factories.track_customer(project, {"registered": "faults-0@example.org"}, {"plan": "free"})
    before = _state(project)

    def unchanged(n: int) -> None:
        assert _state(project) == before, f"half-written after a drop at query {n}"

    drops, results = drop_everywhere(
        lambda: tracking_batch(actor=actor, commands=_batch("faults")), unchanged
    )
    assert drops > 5
    assert all(r["success"] for r in results)
    after = _state(project)
    assert len(after["events"]) == len(before["events"]) + 6
    assert Customer.objects.filter(project=project).count() == 6
    assert sorted(
        CustomerId.objects.filter(project=project, name="registered").values_list(
            "value", flat=True
        )
    ) == [f"faults-{i}@example.org" for i in range(6)]


@pytest.mark.django_db(transaction=True)
def test_single_event_dropped_at_every_query_writes_nothing() -> None:
    from customers.services import event_track

    project = factories.make_project("Faulty event")
    actor = factories.make_key(project, "track").principal
    args = {
        "ids": {"registered": "one@example.org"},
        "event_type": "purchase",
        "properties": {"total": 5},
    }
    before = _state(project)

    def unchanged(n: int) -> None:
        assert _state(project) == before, f"half-written after a drop at query {n}"

    drops, _ = drop_everywhere(lambda: event_track(actor=actor, **args), unchanged)
    assert drops > 3
    assert Event.objects.filter(project=project).count() == 1


# Anonymization ------------------------------------------------------------------------------


def _anonymization_world() -> tuple[Any, Any, list[int]]:
    project = factories.make_project("Faulty anonymization")
    admin = factories.make_member(project, "anon-admin", roles=("Admin",))
    pks = []
    for i in range(5):
        customer = factories.track_customer(
            project,
            {"registered": f"anon-{i}@example.org", "cookie": f"ck-anon-{i}"},
            {"email": f"anon-{i}@example.org", "plan": "premium"},
            [("purchase", {"total": i, "shipping_address": f"{i} Secret St"})],
        )
        pks.append(customer.pk)
    pii_flags_set(
        actor=factories.system(project),
        customer_attributes={"registered": True, "cookie": True, "email": True},
        event_attributes={("purchase", "shipping_address"): True},
    )
    return project, factories.principal_of(admin, project), pks


def _job_state(job: AnonymizationJob) -> tuple[Any, ...]:
    job.refresh_from_db()
    return (
        job.status,
        job.done,
        sorted(AnonymizationJobItem.objects.filter(job=job).values_list("customer_id", "done")),
    )


@pytest.mark.django_db(transaction=True)
@override_settings(ANONYMIZATION_CHUNK_SIZE=2)
def test_anonymization_chunk_dropped_at_every_query_rolls_back_and_the_job_resumes() -> None:
    from customers.services.anonymization_jobs import (
        anonymization_job_create,
        anonymization_job_run_all,
        anonymization_job_step,
    )

    project, actor, pks = _anonymization_world()
    job = anonymization_job_create(actor=actor, source="cli", customers=pks, start=False)
    # The first chunk completes; the drops hit the second one.
    assert anonymization_job_step(job_id=job.pk) is True
    before_data, before_job = _state(project), _job_state(job)

    def unchanged(n: int) -> None:
        assert _state(project) == before_data, f"half-anonymized after a drop at query {n}"
        assert _job_state(job) == before_job, f"job progress moved after a drop at query {n}"

    drops, more = drop_everywhere(lambda: anonymization_job_step(job_id=job.pk), unchanged)
    assert drops > 5
    assert more is True  # the retried chunk went through; one chunk is left
    assert _job_state(job)[1] == 4

    finished = anonymization_job_run_all(job_id=job.pk)
    assert finished.status == AnonymizationJob.Status.DONE
    assert finished.done == finished.total == 5
    customers = Customer.objects.filter(pk__in=pks)
    assert all(c.anonymized_at is not None and "email" not in c.properties for c in customers)
    assert all(c.properties.get("plan") == "premium" for c in customers)
    # Exactly one anonymization event per customer, despite the failed attempts.
    assert Event.objects.filter(customer__in=pks, event_type__name="anonymization").count() == 5
    assert not CustomerId.objects.filter(customer__in=pks, name="registered").exists()
    assert not any(
        "shipping_address" in e.properties
        for e in Event.objects.filter(customer__in=pks, event_type__name="purchase")
    )


# Redis down ---------------------------------------------------------------------------------


def _down_redis_caches() -> dict[str, Any]:
    from django.conf import settings

    backend = str(settings.CACHES["default"]["BACKEND"])
    if "redis" not in backend.lower():
        backend = "exponea_pii.cache.ResilientRedisCache"
    return {"default": {"BACKEND": backend, "LOCATION": DOWN_REDIS, "KEY_PREFIX": "down"}}


def _redis_down_project() -> tuple[Any, Any, Any]:
    from tests.conftest import CANARY_EMAIL

    project = factories.make_project("Redis down")
    admin = factories.make_member(project, "redis-admin", roles=("Admin",))
    key = factories.make_key(project, "track", "read_customers", "view_personal_data")
    factories.track_customer(project, {"registered": CANARY_EMAIL}, {"email": CANARY_EMAIL})
    return project, admin, key


@pytest.mark.django_db
def test_pages_keep_serving_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    project, admin, _ = _redis_down_project()
    with override_settings(CACHES=_down_redis_caches()), caplog.at_level(logging.WARNING):
        client = signed_in(admin)
        token = project.token
        for url in [
            f"/projects/{token}/",
            f"/projects/{token}/customers/",
            f"/projects/{token}/data-manager/",
            f"/projects/{token}/customers/jobs/",
        ]:
            response = client.get(url, follow=True)
            assert response.status_code == 200, url
    assert any("cache unavailable" in r.getMessage().lower() for r in caplog.records)


@pytest.mark.django_db
def test_api_keeps_serving_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    """The per-key throttle counts in Redis; with Redis down it lets requests through, warned."""
    project, _, key = _redis_down_project()
    token = project.token
    with override_settings(CACHES=_down_redis_caches()):
        api = Client(raise_request_exception=False)
        response = api.get(f"/track/v2/projects/{token}/system/time", HTTP_AUTHORIZATION=key.basic)
        assert response.status_code == 200
        response = api.post(
            f"/track/v2/projects/{token}/customers/events",
            data={"customer_ids": {"registered": "new@example.org"}, "event_type": "visit"},
            content_type="application/json",
            HTTP_AUTHORIZATION=key.basic,
        )
        assert response.status_code == 200
    assert any(r.levelno >= logging.WARNING for r in caplog.records)


@pytest.mark.django_db
def test_catalog_change_is_refused_while_redis_is_down_so_no_stale_catalog_survives() -> None:
    """Invalidation must not fail silently: a stale cached catalog would unmask a new flag."""
    project = factories.make_project("Redis down flags")
    factories.track_customer(project, {"registered": "flags@example.org"}, {"nickname": "x"})
    assert CustomerAttribute.objects.get(project=project, name="nickname").pii is False
    # Any error will do; what matters is that nothing was saved.
    with override_settings(CACHES=_down_redis_caches()), pytest.raises(Exception):  # noqa: B017
        pii_flags_set(actor=factories.system(project), customer_attributes={"nickname": True})
    assert CustomerAttribute.objects.get(project=project, name="nickname").pii is False
    # With Redis back, the same change goes through.
    pii_flags_set(actor=factories.system(project), customer_attributes={"nickname": True})
    assert CustomerAttribute.objects.get(project=project, name="nickname").pii is True


@pytest.mark.django_db(transaction=True)
def test_jobs_run_in_process_with_a_warning_when_the_broker_is_down(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker being down looks to the sender like kombu's OperationalError on publish."""
    from kombu.exceptions import OperationalError as BrokerDown

    from customers import tasks
    from customers.services.anonymization_jobs import anonymization_job_create

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.anonymization_job_run, "delay", broker_down)
    monkeypatch.setattr(tasks.anonymization_job_run, "apply_async", broker_down)
    _project, actor, pks = _anonymization_world()
    with caplog.at_level(logging.WARNING):
        job = anonymization_job_create(actor=actor, source="cli", customers=pks)
    job.refresh_from_db()
    assert job.status in {AnonymizationJob.Status.DONE, AnonymizationJob.Status.QUEUED}
    assert any("broker" in r.getMessage().lower() for r in caplog.records), "no clear warning"
