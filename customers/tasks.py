"""Celery entry points: thin wrappers that call services, and the one place that sends an
anonymization job to the broker. Messages carry job ids only.

The job services announce a queued job with :data:`customers.signals.anonymization_job_queued`
(after commit); :func:`on_anonymization_job_queued`, connected in ``customers/apps.py``, sends
it here, so the services never import this module.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerUnavailable

from .models import AnonymizationJob
from .services.anonymization_jobs import anonymization_job_run_all, anonymization_job_step
from .services.job_lease import job_heartbeat, job_lease_claim, stalled_jobs_claim

logger = logging.getLogger(__name__)

# With the broker down, a job up to this size runs in the request that created it; a larger
# one stays queued (resumable with `anonymize_customers --resume`), never lost or half-done.
IN_PROCESS_FALLBACK_MAX = 5000
# Publishing a job's next chunk from the worker: up to ~15 s of broker outage is bridged.
NEXT_CHUNK_PUBLISH_RETRY = {
    "max_retries": 12,
    "interval_start": 0.2,
    "interval_step": 0.3,
    "interval_max": 2.0,
}


@shared_task(
    bind=True,
    name="customers.anonymization_job_run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=8,
)
def anonymization_job_run(self: Any, job_id: int, lease: str = "") -> None:
    """Anonymize one chunk of job ``job_id``, then queue the next chunk as a new message.

    One message per chunk keeps every message shorter than the broker's visibility timeout;
    the message is acknowledged only after the chunk committed (``acks_late``), so a killed
    worker's chunk is delivered again, and the chunk's own transaction makes that harmless.
    Each message renews the chain's lease and heartbeat (customers/services/job_lease.py);
    a message whose chain lost the lease to the watchdog's is dropped. A database that went
    away (restart, failover) is retried with backoff; nothing of the chunk committed.
    Eagerly (no broker) the whole job runs here, in a loop rather than by recursion.
    """
    if self.request.is_eager:
        anonymization_job_run_all(job_id=job_id)
        return
    held = job_lease_claim(job_id=job_id, lease=lease)
    if held is None:
        return  # another chain runs this job (or it is finished)
    try:
        more = anonymization_job_step(job_id=job_id)
        # Inside the retry too: a connection lost after the chunk committed must not send
        # the retry with the first message's empty lease (it would drop the chain).
        job_heartbeat(job_id=job_id, lease=held)
    except (OperationalError, InterfaceError) as exc:
        # The retry carries the lease this message now holds: with the original (empty)
        # argument the retry would find the lease taken and drop the chain.
        countdown = get_exponential_backoff_interval(
            factor=1, retries=self.request.retries, maximum=30, full_jitter=True
        )
        raise self.retry(args=(job_id, held), exc=exc, countdown=countdown) from exc
    if more:
        # A broker restart (Redis without persistence loses this very message) would end the
        # chain here and leave the job to the watchdog, a stall time later; retry the publish
        # through a short outage instead (the web's policy stays short: requests must not hang).
        anonymization_job_run.apply_async((job_id, held), retry_policy=NEXT_CHUNK_PUBLISH_RETRY)


@shared_task(
    name="customers.anonymization_job_watchdog",
    ignore_result=True,
    acks_late=False,  # a lost tick is harmless: the next one comes in seconds
)
def anonymization_job_watchdog() -> None:
    """Celery beat: re-enqueue running jobs whose heartbeat stopped (Redis loses a killed
    worker's message for ``visibility_timeout``; RabbitMQ does not need this, but a purged
    queue or a job created while the broker was down does)."""
    anonymization_jobs_requeue_stalled()


def anonymization_jobs_requeue_stalled() -> list[int]:
    """Send a fresh message for every stalled job (and every job queued without a message
    for longer than the stall time, e.g. created while the broker was down); returns their ids.

    Each job is claimed first (:func:`~.services.job_lease.stalled_jobs_claim`), so two
    watchdogs (two beat processes) re-enqueue it once.
    """
    requeued: list[int] = []
    for job_id in stalled_jobs_claim():
        anonymization_job_run.delay(job_id)
        requeued.append(job_id)
    if requeued:
        logger.warning("Re-enqueued stalled anonymization job(s) %s.", requeued)
    return requeued


def anonymization_job_enqueue(*, job_id: int) -> None:
    """Send the job's id (and nothing else) to the Celery queue; eager without a broker.

    If the broker cannot be reached the job is already committed, so the request must not
    fail: a small job runs in-process, a large one waits, and either way a warning says so.
    """
    try:
        anonymization_job_run.delay(job_id)
    except BrokerUnavailable:
        row = AnonymizationJob.objects.filter(pk=job_id).values_list("total", "public_id").first()
        total, public_id = row if row is not None else (None, None)
        if total is not None and total <= IN_PROCESS_FALLBACK_MAX:
            logger.warning(
                "Celery broker unreachable: running anonymization job %s (%s customers) in-process.",
                job_id,
                total,
            )
            anonymization_job_run_all(job_id=job_id)
        else:
            logger.warning(
                "Celery broker unreachable: anonymization job %s stays queued; resume it with "
                "`manage.py anonymize_customers --project TOKEN --resume %s` or when the broker "
                "is back.",
                job_id,
                public_id,
            )


def on_anonymization_job_queued(*, job_id: int, **_: Any) -> None:
    """Receiver of :data:`customers.signals.anonymization_job_queued` (sent after commit)."""
    anonymization_job_enqueue(job_id=job_id)
