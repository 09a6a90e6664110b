"""Anonymization in a real browser: the profile's dialog, and a bulk job watched to 100 %."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from customers import tasks
from customers.models import AnonymizationJob, Customer, Event
from customers.services import anonymization_jobs
from datamanager.services import pii_flags_set
from tests import factories
from tests.browser.conftest import sign_in
from tests.conftest import CANARY_EMAIL

BULK_CUSTOMERS = 30


def _setup() -> tuple[Any, Customer]:
    project = factories.make_project("Browser shop")
    factories.make_member(project, "bella", roles=("Admin",))
    customer = factories.track_customer(
        project,
        {"registered": CANARY_EMAIL, "cookie": "ck-browser-1"},
        {"email": CANARY_EMAIL, "first_name": "Zyxwvonia", "plan": "premium"},
        [
            ("page_visit", {"url": "/sale", "ip": "203.0.113.77"}),
            ("page_visit", {"url": "/new", "ip": "203.0.113.77"}),
        ],
    )
    for i in range(BULK_CUSTOMERS):
        factories.track_customer(
            project, {"registered": f"free{i}@x.test"}, {"email": f"free{i}@x.test", "plan": "free"}
        )
    pii_flags_set(
        actor=factories.system(project),
        customer_attributes={"registered": True, "cookie": True, "email": True, "first_name": True},
        event_attributes={("page_visit", "ip"): True},
    )
    return project, customer


def test_anonymize_from_profile_then_bulk_job_to_100_percent(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path, monkeypatch: Any
) -> None:
    project, customer = _setup()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, "bella", factories.PASSWORD)
    base = f"{live_server.url}/projects/{project.token}/customers/"

    # The profile: the dialog names what goes, then the profile shows the anonymized state.
    page.goto(f"{base}{customer.pk}/")
    page.click("a[data-anonymize-dialog]")
    dialog = page.locator("dialog#an-dialog")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert "cannot be undone" in text
    assert "email" in text and "first_name" in text and "registered" in text
    assert "2 page_visit events will lose ip" in text
    page.screenshot(path=str(screenshot_dir / "anonymize-dialog.png"))
    dialog.locator("button[data-an-confirm]").click()
    page.wait_for_load_state("networkidle")
    assert f"/customers/{customer.pk}/" in page.url
    assert "was anonymized" in page.inner_text("main")
    assert "Anonymized" in page.inner_text("h1")
    assert page.locator("a[data-anonymize-dialog]").count() == 0
    customer.refresh_from_db()
    assert customer.anonymized_at is not None and "email" not in customer.properties

    # Bulk from the filter: the job stays queued until "the worker" (this test) runs it.
    queued: list[int] = []
    monkeypatch.setattr(tasks, "anonymization_job_enqueue", lambda *, job_id: queued.append(job_id))
    page.goto(f"{base}?c=plan:equals:free")
    page.check("input[name=all_matching]")
    page.screenshot(path=str(screenshot_dir / "anonymize-bulk-actions.png"))
    page.click(".an-bulk button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"Anonymize {BULK_CUSTOMERS} customers?" in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "anonymize-bulk-confirm.png"))
    page.click("button[data-an-confirm]")
    page.wait_for_load_state("domcontentloaded")
    job = AnonymizationJob.objects.get(source="app")
    assert queued == [job.pk] and job.total == BULK_CUSTOMERS
    bar = page.locator("progress[data-job-progress]")
    assert bar.get_attribute("value") == "0"

    seen: list[int] = []
    while anonymization_jobs.anonymization_job_step(job_id=job.pk, size=10):
        job.refresh_from_db()
        page.wait_for_function(
            "p => Number(document.querySelector('progress[data-job-progress]').value) >= p",
            arg=job.percent,
        )
        seen.append(int(float(bar.get_attribute("value") or 0)))
    page.wait_for_function(
        "() => document.querySelector('[data-job-badge]').textContent.trim() === 'Done'"
    )
    assert bar.get_attribute("value") == "100"
    assert page.locator("[data-job-field=percent]").inner_text() == "100"
    assert any(0 < v < 100 for v in seen), seen  # the bar moved through the middle
    page.screenshot(path=str(screenshot_dir / "anonymization-job.png"))

    page.goto(f"{base}jobs/")
    assert "100" in page.locator("tr[data-job-status=done] .an-percent").first.inner_text()
    page.screenshot(path=str(screenshot_dir / "anonymization-jobs.png"))
    assert not Customer.objects.filter(project=project, anonymized_at__isnull=True).exists()
    assert Event.objects.filter(project=project, event_type__name="anonymization").count() == (
        BULK_CUSTOMERS + 1
    )
    assert not errors, errors
