"""Celery entry points: thin wrappers that call services. Messages carry job ids only."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import InterfaceError, OperationalError

from .services.anonymization import anonymization_job_run_all, anonymization_job_step
from .services.job_lease import anonymization_jobs_requeue_stalled, job_heartbeat, job_lease_claim


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
    except (OperationalError, InterfaceError) as exc:
        # The retry carries the lease this message now holds: with the original (empty)
        # argument the retry would find the lease taken and drop the chain.
        countdown = get_exponential_backoff_interval(
            factor=1, retries=self.request.retries, maximum=30, full_jitter=True
        )
        raise self.retry(args=(job_id, held), exc=exc, countdown=countdown) from exc
    job_heartbeat(job_id=job_id, lease=held)
    if more:
        anonymization_job_run.apply_async((job_id, held))


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
