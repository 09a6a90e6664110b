"""Celery entry points of retention: the daily schedule and one message per run chunk.

Messages carry run ids only. Like anonymization jobs, a chunk's message is acknowledged
after the chunk committed (``acks_late``), so a killed worker's chunk is delivered again and
the chunk's own transaction makes that harmless; the daily schedule and ``manage.py
apply_retention`` resume a run whose chain of messages was lost.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerUnavailable

from .services import retention_apply_due, retention_run_all, retention_run_step

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="retention.run",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=8,
)
def retention_run(self: Any, run_id: int) -> None:
    """One chunk of run ``run_id``, then the next chunk as a new message (eager: all)."""
    if self.request.is_eager:
        retention_run_all(run_id=run_id)
        return
    if retention_run_step(run_id=run_id):
        retention_run.apply_async((run_id,))


@shared_task(name="retention.apply_due", ignore_result=True)
def retention_apply_due_task() -> int:
    """Celery beat, daily: resume unfinished runs and start every due enabled policy."""
    return len(retention_apply_due(start=True))


def on_retention_run_queued(*, run_id: int, **_: Any) -> None:
    """Receiver of :data:`retention.signals.retention_run_queued` (sent after commit)."""
    try:
        retention_run.delay(run_id)
    except BrokerUnavailable:
        logger.warning(
            "Celery broker unreachable: retention run %s stays queued; the daily schedule or "
            "`manage.py apply_retention` resumes it.",
            run_id,
        )
