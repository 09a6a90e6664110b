"""A chunk whose connection is found closed (``InterfaceError``, what a restart leaves behind
for a connection already known dead) is retried like one the server dropped
(``OperationalError``): the job must not be marked failed, nothing of the chunk is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import override_settings

from customers.models import AnonymizationJob, Customer
from customers.services.anonymization_jobs import anonymization_job_create, anonymization_job_step
from tests import factories

pytestmark = pytest.mark.django_db


class FailAt:
    def __init__(self, n: int, error: type[Exception]) -> None:
        self.n, self.error, self.count = n, error, 0

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.count += 1
        if self.count == self.n:
            raise self.error("connection already closed (simulated)")
        return execute(sql, *args)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@override_settings(ANONYMIZATION_CHUNK_SIZE=2)
def test_a_connection_error_in_a_chunk_is_raised_for_the_retry_not_a_failed_job(
    error: type[Exception],
) -> None:
    project = factories.make_project()
    customers = [
        factories.track_customer(project, {"registered": f"c{i}@leak.test"}) for i in range(3)
    ]
    job = anonymization_job_create(
        actor=factories.system(project),
        source="cli",
        customers=[c.pk for c in customers],
        start=False,
    )
    with connection.execute_wrapper(FailAt(3, error)), pytest.raises(error):
        anonymization_job_step(job_id=job.pk)
    job.refresh_from_db()
    assert job.status != AnonymizationJob.Status.FAILED and job.error == ""
    assert job.done == 0
    assert not Customer.objects.filter(project=project, anonymized_at__isnull=False).exists()

    assert anonymization_job_step(job_id=job.pk) is True  # the retry
    assert anonymization_job_step(job_id=job.pk) is False
    job.refresh_from_db()
    assert (job.status, job.done) == ("done", 3)
