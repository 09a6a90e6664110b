"""The richer filter in a real browser (issue 22): build an OR group with an event attribute
condition, save it as a segment, open the segment and export it; the marketer is offered no
PII event attribute."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.utils import timezone

from customers.services import event_track
from datamanager.services import pii_flags_set
from segments.models import Segment
from tests import factories
from tests.browser.conftest import sign_in


def _setup() -> Any:
    project = factories.make_project("Builder shop")
    factories.make_member(project, "bruno", roles=("Admin",))
    factories.make_member(project, "mia", roles=("Marketer",))
    actor = factories.system(project)
    now = timezone.now()
    people = {
        "big@x.test": ("premium", [("purchase", {"total": 250, "card": "4111"})]),
        "small@x.test": ("free", [("purchase", {"total": 20, "card": "4222"})]),
        "trial@x.test": ("trial", []),
        "free@x.test": ("free", []),
    }
    for email, (plan, events) in people.items():
        factories.track_customer(project, {"registered": email}, {"plan": plan})
        for event_type, properties in events:
            event_track(
                actor=actor,
                ids={"registered": email},
                event_type=event_type,
                timestamp=(now - dt.timedelta(days=2)).timestamp(),
                properties=properties,
            )
    pii_flags_set(
        actor=actor,
        customer_attributes={"registered": True},
        event_attributes={("purchase", "card"): True},
    )
    return project


def test_or_group_with_an_event_attribute_saved_and_exported(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    project = _setup()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, "bruno", factories.PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.token}/customers/")

    # Group A: plan equals trial OR purchase where total > 100.
    page.select_option("select[name='c0.attribute']", "plan")
    page.select_option("select[name='c0.operator']", "equals")
    page.fill("input[name='c0.value']", "trial")
    page.select_option("select[name='c0.group']", "0")
    page.select_option("select[name='e0.event_type']", "purchase")
    page.select_option("select[name='e0.where_attribute']", "total")
    page.select_option("select[name='e0.where_operator']", "gt")
    page.fill("input[name='e0.where_value']", "100")
    page.select_option("select[name='e0.group']", "0")
    page.select_option("select[name='g0.match']", "any")
    assert page.locator(".cu-group-setting[data-group='1']").is_hidden()
    page.click("text=Apply filter")
    page.wait_for_load_state("networkidle")
    assert "2 customers match this filter" in page.inner_text(".cu-sub")
    page.screenshot(path=str(screenshot_dir / "customers-filter-or-group.png"), full_page=True)

    page.fill(".cu-save-segment input[name=name]", "Big buyers or trials")
    page.click(".cu-save-segment button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "Saved the segment" in page.inner_text("main")
    segment = Segment.objects.get(project=project)
    assert segment.definition["groups"][0]["match"] == "any"

    page.goto(f"{live_server.url}/projects/{project.token}/segments/")
    page.screenshot(path=str(screenshot_dir / "segments-list.png"))
    page.click(".sg-list a:text-is('Open')")
    page.wait_for_load_state("networkidle")
    assert "2 customers match this filter" in page.inner_text(".cu-sub")
    with page.expect_download() as download_info:
        page.click("text=Export CSV")
    csv_text = Path(download_info.value.path()).read_text()
    assert len(csv_text.strip().splitlines()) == 3  # header and two customers
    assert errors == []


def test_the_marketer_is_offered_no_pii_event_attribute(
    page: Any, live_server: Any, transactional_db: Any
) -> None:
    project = _setup()
    sign_in(page, live_server, "mia", factories.PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.token}/customers/")
    options = page.locator("select[name='e0.where_attribute'] option").all_inner_texts()
    assert "total" in options and "card" not in options
