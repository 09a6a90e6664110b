"""Which Celery chain runs an anonymization job, its heartbeat, and the stalled-job watchdog.

A job runs as a chain of messages, one per chunk (customers/tasks.py). With RabbitMQ a
killed worker's message is redelivered as soon as its connection drops. With Redis it
comes back only after the transport's ``visibility_timeout`` (an hour in production), so
the job would stop for an hour: instead every message of the chain bumps the job's
``heartbeat_at``, and the watchdog (Celery beat, every ``ANONYMIZATION_WATCHDOG_SECONDS``:
:func:`stalled_jobs_claim`, then customers/tasks.py) sends a new message for a running job whose heartbeat
is older than ``ANONYMIZATION_JOB_STALL_SECONDS``.

Two chains may then exist for one job (the watchdog's, and the lost message coming back
an hour later; or a chain that was only slow). The **lease** keeps one of them: a message
works only if it holds the job's lease, or takes it over because the lease is free or its
heartbeat is stale; any other message is dropped. Independently of the lease, a chunk is
never anonymized twice: :func:`~customers.services.anonymization_jobs.anonymization_job_step`
locks the job row and the chunk's customers, and skips customers already anonymized.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import AnonymizationJob

DEFAULT_STALL_SECONDS = 20
DEFAULT_WATCHDOG_SECONDS = 5


def stall_after() -> timedelta:
    """How long without a heartbeat makes a running job stalled."""
    seconds = getattr(settings, "ANONYMIZATION_JOB_STALL_SECONDS", DEFAULT_STALL_SECONDS)
    return timedelta(seconds=float(seconds))


def job_lease_claim(*, job_id: int, lease: str = "") -> str | None:
    """Take or renew the job's lease and beat; the lease to pass on, or None to drop.

    One UPDATE, so two messages racing for a free lease cannot both win. A message without
    a lease (the first one, or the watchdog's) gets a new one if the job's lease is free or
    stale; a message of a chain whose lease was taken over is dropped.
    """
    now = timezone.now()
    token = lease or uuid.uuid4().hex
    claimable = (
        Q(lease=token)
        | Q(lease="")
        | Q(heartbeat_at__isnull=True)
        | Q(heartbeat_at__lt=now - stall_after())
    )
    taken = (
        AnonymizationJob.objects.filter(claimable, pk=job_id)
        .exclude(status__in=[AnonymizationJob.Status.DONE, AnonymizationJob.Status.FAILED])
        .update(lease=token, heartbeat_at=now)
    )
    return token if taken else None


def job_heartbeat(*, job_id: int, lease: str) -> None:
    """Record progress of the chain holding ``lease`` (after each chunk committed)."""
    AnonymizationJob.objects.filter(pk=job_id, lease=lease).update(heartbeat_at=timezone.now())


def job_is_stalled(job: AnonymizationJob, *, now: datetime | None = None) -> bool:
    """A job a worker was running whose heartbeat stopped (the watchdog will re-enqueue it).

    A job run in-process (the command line, eager mode) has no heartbeat and is never
    called stalled.
    """
    if job.status != AnonymizationJob.Status.RUNNING or job.heartbeat_at is None:
        return False
    return job.heartbeat_at < (now or timezone.now()) - stall_after()


def stalled_jobs_claim() -> Iterator[int]:
    """Claim, one by one, every stalled job (and every job queued without a message for
    longer than the stall time, e.g. created while the broker was down); yields their ids
    for the caller to send a fresh message each (customers/tasks.py).

    Each job is claimed with one UPDATE that frees its lease and restarts its stall clock,
    so two watchdogs (two beat processes) claim it once, and the next claim can only come
    after another full stall time.
    """
    now = timezone.now()
    cutoff = now - stall_after()
    stalled = Q(status=AnonymizationJob.Status.RUNNING, heartbeat_at__lt=cutoff)
    never_sent = Q(
        status=AnonymizationJob.Status.QUEUED, heartbeat_at__isnull=True, created_at__lt=cutoff
    )
    for job_id in AnonymizationJob.objects.filter(stalled | never_sent).values_list(
        "pk", flat=True
    ):
        claimed = AnonymizationJob.objects.filter(stalled | never_sent, pk=job_id).update(
            lease="", heartbeat_at=now
        )
        if claimed:
            yield job_id
