"""Job heartbeat, lease and the stalled-job watchdog (customers/services/job_lease.py).

The worker-kill tests (test_worker_kill.py) prove the whole recovery with a real broker;
these pin the rules it rests on: one chain per job, a stalled job re-enqueued once per stall
time, a chain that lost its lease dropped, and the job page saying "stalled".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from customers.models import AnonymizationJob, Customer, Event
from customers.services import anonymization_job_create
from customers.services.anonymization_jobs import anonymization_job_step
from customers.services.job_lease import job_is_stalled, job_lease_claim
from customers.tasks import anonymization_jobs_requeue_stalled
from tests import factories

pytestmark = pytest.mark.django_db


def _job(project: Any, n: int = 5) -> AnonymizationJob:
    customers = [
        factories.track_customer(project, {"registered": f"w{i}@leak.test"}) for i in range(n)
    ]
    return anonymization_job_create(
        actor=factories.system(project),
        source="api",
        customers=[c.pk for c in customers],
        start=False,
    )


def _age(job: AnonymizationJob, seconds: float) -> None:
    AnonymizationJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_one_chain_holds_the_lease_until_its_heartbeat_goes_stale(settings: Any) -> None:
    settings.ANONYMIZATION_JOB_STALL_SECONDS = 20
    job = _job(factories.make_project())
    first = job_lease_claim(job_id=job.pk)
    assert first
    assert job_lease_claim(job_id=job.pk) is None  # a second chain (lost message, watchdog)
    assert job_lease_claim(job_id=job.pk, lease=first) == first  # its own next message
    _age(job, 21)
    second = job_lease_claim(job_id=job.pk)
    assert second and second != first  # taken over: the first chain was lost
    assert job_lease_claim(job_id=job.pk, lease=first) is None  # ...and stays dropped
    AnonymizationJob.objects.filter(pk=job.pk).update(status=AnonymizationJob.Status.DONE)
    assert job_lease_claim(job_id=job.pk, lease=second) is None


def test_watchdog_requeues_a_stalled_job_once_and_it_finishes_exactly_once(
    settings: Any,
) -> None:
    settings.ANONYMIZATION_JOB_STALL_SECONDS = 20
    settings.ANONYMIZATION_CHUNK_SIZE = 2
    project = factories.make_project()
    job = _job(project)
    lease = job_lease_claim(job_id=job.pk)
    assert lease and anonymization_job_step(job_id=job.pk)  # one chunk, then the worker dies
    _age(job, 5)
    assert anonymization_jobs_requeue_stalled() == []  # not stalled yet
    job.refresh_from_db()
    assert not job_is_stalled(job)

    _age(job, 30)
    job.refresh_from_db()
    assert job.status == "running" and job_is_stalled(job)
    # Eager in tests: the re-enqueued message runs the rest of the job right here.
    assert anonymization_jobs_requeue_stalled() == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.done) == ("done", 5)
    assert anonymization_jobs_requeue_stalled() == []
    assert not Customer.objects.filter(project=project, anonymized_at__isnull=True).exists()
    per_customer = (
        Event.objects.filter(project=project, event_type__name="anonymization")
        .values("customer_id")
        .annotate(n=Count("id"))
    )
    assert sorted(r["n"] for r in per_customer) == [1] * 5


def test_two_watchdogs_requeue_a_stalled_job_once(settings: Any, monkeypatch: Any) -> None:
    settings.ANONYMIZATION_JOB_STALL_SECONDS = 20
    job = _job(factories.make_project())
    job_lease_claim(job_id=job.pk)
    AnonymizationJob.objects.filter(pk=job.pk).update(status=AnonymizationJob.Status.RUNNING)
    _age(job, 60)
    sent: list[int] = []
    from customers import tasks

    monkeypatch.setattr(tasks.anonymization_job_run, "delay", lambda job_id: sent.append(job_id))
    assert anonymization_jobs_requeue_stalled() == [job.pk]
    assert anonymization_jobs_requeue_stalled() == []  # the first restarted the stall clock
    assert sent == [job.pk]


def test_a_job_queued_while_the_broker_was_down_is_sent_by_the_watchdog(
    settings: Any, monkeypatch: Any
) -> None:
    settings.ANONYMIZATION_JOB_STALL_SECONDS = 20
    job = _job(factories.make_project())
    AnonymizationJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    sent: list[int] = []
    from customers import tasks

    monkeypatch.setattr(tasks.anonymization_job_run, "delay", lambda job_id: sent.append(job_id))
    assert anonymization_jobs_requeue_stalled() == [job.pk]
    assert sent == [job.pk]


def test_job_page_shows_a_stalled_job_as_stalled_with_its_last_progress(
    client: Any, settings: Any
) -> None:
    settings.ANONYMIZATION_JOB_STALL_SECONDS = 20
    project = factories.make_project()
    admin = factories.make_member(project, "adam", roles=("Admin",))
    job = _job(project)
    client.force_login(admin)
    page = reverse("customers:job", kwargs={"token": project.token, "public_id": job.public_id})
    status = reverse(
        "customers:job_status", kwargs={"token": project.token, "public_id": job.public_id}
    )
    job_lease_claim(job_id=job.pk)
    AnonymizationJob.objects.filter(pk=job.pk).update(status=AnonymizationJob.Status.RUNNING)
    response = client.get(page)
    assert response.status_code == 200
    fresh = response.content.decode()
    assert "Stalled" not in fresh
    assert client.get(status).json()["stalled"] is False

    last = timezone.now() - timedelta(minutes=3)
    AnonymizationJob.objects.filter(pk=job.pk).update(heartbeat_at=last)
    html = client.get(page).content.decode()
    assert "Stalled" in html
    label = timezone.localtime(last).strftime("%H:%M:%S")
    assert "No progress since" in html and label in html
    data = client.get(status).json()
    assert data["stalled"] is True and data["status"] == "running"
    assert data["status_label"] == "Stalled"
    assert label in data["heartbeat_at_label"]


def test_a_chunk_retried_after_a_database_error_keeps_its_chains_lease(monkeypatch: Any) -> None:
    """The first message has no lease; its retry must carry the one it took, or the retry
    would find the lease held and drop the job's only chain."""
    from django.db import OperationalError

    from customers import tasks

    job = _job(factories.make_project())

    def database_gone(**kwargs: Any) -> bool:
        raise OperationalError("server closed the connection unexpectedly (simulated)")

    retried: dict[str, Any] = {}

    class Retried(Exception):
        pass

    def retry(**kwargs: Any) -> Exception:
        retried.update(kwargs)
        return Retried()

    monkeypatch.setattr(tasks, "anonymization_job_step", database_gone)
    monkeypatch.setattr(tasks.anonymization_job_run, "retry", retry)
    task: Any = tasks.anonymization_job_run  # celery-types does not know push_request's kwargs
    task.push_request(is_eager=False, retries=0, args=[job.pk], kwargs={})
    try:
        with pytest.raises(Retried):
            tasks.anonymization_job_run.run(job.pk)
    finally:
        tasks.anonymization_job_run.pop_request()
    job.refresh_from_db()
    assert job.lease and retried["args"] == (job.pk, job.lease)
    assert job_lease_claim(job_id=job.pk, lease=retried["args"][1]) == job.lease
