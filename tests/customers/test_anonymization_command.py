"""manage.py anonymize_customers: --file (CSV, JSON lines), --filter, confirmation, --resume."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from customers.models import AnonymizationJob, Customer, Event
from customers.services import anonymization_job_create
from customers.services.anonymization_jobs import anonymization_job_step
from tests import factories
from tests.conftest import CANARY_EMAIL, World, assert_no_canary
from tests.customers.test_anonymization import assert_anonymized

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str = "") -> str:
    out, err = io.StringIO(), io.StringIO()
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("anonymize_customers", *args, stdout=out, stderr=err)
    finally:
        sys.stdin = old
    return out.getvalue() + err.getvalue()


def test_csv_file_with_confirmation(world: World, tmp_path: Path) -> None:
    other = factories.track_customer(world.project, {"registered": "o@x.test"}, {"email": "o"})
    path = tmp_path / "ids.csv"
    path.write_text(f"registered,cookie\n{CANARY_EMAIL},\n,nobody-cookie\no@x.test,\n")
    output = run("--project", str(world.project.token), "--file", str(path), stdin="y\n")
    assert "Anonymize 2 customers listed in ids.csv" in output
    assert "cannot be undone" in output
    assert "1 line(s) name no customer: 3" in output
    assert "Done: 2 customers processed" in output
    assert_no_canary(output)
    assert "nobody-cookie" not in output
    assert_anonymized(world.customer, source="cli")
    other.refresh_from_db()
    assert other.anonymized_at is not None
    job = AnonymizationJob.objects.get()
    assert (job.source, job.status, job.not_found, job.requested_by_label) == (
        "cli",
        "done",
        [3],
        "cli",
    )


def test_answering_no_changes_nothing(world: World, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text(f"registered\n{CANARY_EMAIL}\n")
    output = run("--project", str(world.project.token), "--file", str(path), stdin="n\n")
    assert "Cancelled" in output
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None
    assert AnonymizationJob.objects.count() == 0


def test_json_lines_with_yes(world: World, tmp_path: Path) -> None:
    second = factories.track_customer(world.project, {"registered": "j@x.test"})
    path = tmp_path / "ids.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"registered": CANARY_EMAIL}),
                json.dumps({"internal_id": str(second.pk)}),
                json.dumps({"customer_ids": {"cookie": "ck-canary-1"}}),
            ]
        )
    )
    output = run("--project", str(world.project.token), "--file", str(path), "--yes")
    assert "Done: 2 customers processed" in output
    assert_anonymized(world.customer, source="cli")
    # Running the same file again: nobody is found by those IDs any more; nothing tracked.
    again = run("--project", str(world.project.token), "--file", str(path), "--yes")
    assert "Done: 1 customers processed" in again  # internal_id still names the customer
    assert Event.objects.filter(event_type__name="anonymization").count() == 2


def test_filter(world: World) -> None:
    free = factories.track_customer(world.project, {"registered": "free@x.test"}, {"plan": "free"})
    output = run(
        "--project", "Shop", "--filter", "c=plan:equals:premium", "--yes", "--chunk-size", "1"
    )
    assert "Done: 1 customers processed" in output
    assert_anonymized(world.customer, source="cli")
    free.refresh_from_db()
    assert free.anonymized_at is None


def test_unknown_id_name_is_an_error_naming_the_line(world: World, tmp_path: Path) -> None:
    path = tmp_path / "ids.jsonl"
    path.write_text(
        json.dumps({"registered": "a@x.test"}) + "\n" + json.dumps({"email": CANARY_EMAIL})
    )
    with pytest.raises(CommandError) as exc:
        run("--project", str(world.project.token), "--file", str(path), "--yes")
    assert "line 2" in str(exc.value) and "email" in str(exc.value)
    assert_no_canary(str(exc.value))
    assert AnonymizationJob.objects.count() == 0


def test_resume_finishes_an_interrupted_job(world: World, settings: Any) -> None:
    others = [
        factories.track_customer(world.project, {"registered": f"r{i}@x.test"}) for i in range(3)
    ]
    job = anonymization_job_create(
        actor=factories.system(world.project),
        source="cli",
        customers=[world.customer.pk, *(c.pk for c in others)],
        start=False,
    )
    anonymization_job_step(job_id=job.pk, size=2)  # then the process "died"
    output = run("--project", str(world.project.token), "--resume", str(job.public_id))
    assert "Done: 4 customers processed" in output
    assert not Customer.objects.filter(project=world.project, anonymized_at__isnull=True).exists()


def test_unknown_project(world: World) -> None:
    with pytest.raises(CommandError):
        run("--project", "00000000-0000-0000-0000-000000000000", "--filter", "", "--yes")
