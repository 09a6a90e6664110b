"""Celery entry points: thin wrappers that call services. Messages carry job ids only."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from .services.anonymization import anonymization_job_run_all, anonymization_job_step


@shared_task(
    bind=True,
    name="customers.anonymization_job_run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def anonymization_job_run(self: Any, job_id: int) -> None:
    """Anonymize one chunk of job ``job_id``, then queue the next chunk as a new message.

    One message per chunk keeps every message shorter than the broker's visibility timeout;
    the message is acknowledged only after the chunk committed (``acks_late``), so a killed
    worker's chunk is delivered again, and the chunk's own transaction makes that harmless.
    Eagerly (no broker) the whole job runs here, in a loop rather than by recursion.
    """
    if self.request.is_eager:
        anonymization_job_run_all(job_id=job_id)
        return
    if anonymization_job_step(job_id=job_id):
        anonymization_job_run.apply_async((job_id,))
