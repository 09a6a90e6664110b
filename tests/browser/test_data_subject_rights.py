"""Data-subject rights in a real browser: the personal-data export and the erasure receipt
from the profile, and a retention policy previewed, enabled and run (issue 17)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.utils import timezone

from customers.models import Customer
from datamanager.services import pii_flags_set
from retention.models import RetentionPolicy, RetentionRun
from tests import factories
from tests.browser.conftest import sign_in
from tests.conftest import CANARY_ADDRESS, CANARY_EMAIL, CANARY_NAME


def _setup() -> tuple[Any, Customer]:
    project = factories.make_project("Rights shop")
    factories.make_member(project, "petra", roles=("Admin",))
    customer = factories.track_customer(
        project,
        {"registered": CANARY_EMAIL, "cookie": "ck-rights-1"},
        {"email": CANARY_EMAIL, "first_name": CANARY_NAME, "phone": "+421 900 000 001"},
        [
            ("purchase", {"total": 42, "shipping_address": CANARY_ADDRESS}),
            ("consent", {"category": "newsletter", "action": "accept", "valid_until": None}),
        ],
    )
    for i in range(4):
        old = factories.track_customer(
            project, {"registered": f"old{i}@x.test"}, {"phone": f"+421 955 000 {i:03d}"}
        )
        Customer.objects.filter(pk=old.pk).update(
            updated_at=timezone.now() - dt.timedelta(days=900)
        )
    pii_flags_set(
        actor=factories.system(project),
        customer_attributes={"registered": True, "email": True, "first_name": True, "phone": True},
        event_attributes={("purchase", "shipping_address"): True},
    )
    return project, customer


def test_export_and_receipt_from_the_profile(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    project, customer = _setup()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, "petra", factories.PASSWORD)
    profile = f"{live_server.url}/projects/{project.token}/customers/{customer.pk}/"
    page.goto(profile)
    page.click("text=Export personal data")
    page.wait_for_load_state("networkidle")
    main = page.inner_text("main")
    assert f"Personal data of customer #{customer.pk}" in main
    assert CANARY_EMAIL in main and CANARY_ADDRESS in main and "newsletter" in main
    page.screenshot(path=str(screenshot_dir / "personal-data-export.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("text=Download JSON")
    document = json.loads(Path(download_info.value.path()).read_text())
    assert document["customer"]["internal_id"] == customer.pk
    assert [e["type"] for e in document["events"]] == ["purchase", "consent"]

    # Anonymize from the profile, then the receipt is on the profile and in a new export.
    page.goto(profile)
    page.click("a[data-anonymize-dialog]")
    page.locator("dialog#an-dialog button[data-an-confirm]").click()
    page.wait_for_load_state("networkidle")
    receipt = page.locator("#erasure-receipts")
    receipt.wait_for(state="visible")
    text = receipt.inner_text()
    assert "email" in text and CANARY_EMAIL not in text
    receipt.screenshot(path=str(screenshot_dir / "erasure-receipt.png"))
    page.goto(profile + "personal-data/")
    assert "Erasure receipts" in page.inner_text("main")
    assert CANARY_EMAIL not in page.content()
    assert errors == []


def test_retention_preview_enable_and_run(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    project, _ = _setup()
    sign_in(page, live_server, "petra", factories.PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.token}/")
    page.click("nav.mainnav >> text=Retention")
    page.wait_for_load_state("networkidle")
    page.select_option("select[name=kind]", "attribute")
    page.select_option("select[name=attribute]", "phone")
    page.fill("input[name=days]", "365")
    page.fill("input[name=purpose]", "Phone numbers help with deliveries for one year")
    page.click("text=Add policy")
    page.wait_for_load_state("networkidle")
    preview = page.locator("td.rt-preview").first
    assert preview.get_attribute("data-preview-count") == "4"
    assert "not enabled" in page.inner_text("table.rt-policies")
    page.screenshot(path=str(screenshot_dir / "retention-preview.png"), full_page=True)

    page.click('table.rt-policies button:text-is("Enable")')
    page.wait_for_load_state("networkidle")
    assert RetentionPolicy.objects.get(project=project).enabled
    page.click('table.rt-policies button:text-is("Run now")')
    page.wait_for_load_state("networkidle")
    run = RetentionRun.objects.get(project=project)
    assert (run.status, run.done, run.total) == ("done", 4, 4)
    assert "4 of 4" in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "retention-run.png"))
    assert not Customer.objects.filter(project=project, properties__has_key="phone").exclude(
        properties__email=CANARY_EMAIL
    )
