"""The Data manager in a real browser: flag on both tabs, save, reload, both locked."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.core.management import call_command

from access.models import Project
from access.selectors import principal_for_system
from datamanager.models import CustomerAttribute, EventAttribute
from datamanager.services import (
    CustomerAttributeChange,
    EventTypeChange,
    catalog_changes_apply,
    pii_flags_set,
)
from tests.browser.conftest import sign_in

DESCRIPTIONS = {
    "email": "Primary e-mail address",
    "phone": "Mobile number for order updates",
    "first_name": "Given name",
    "city": "City of the default shipping address",
    "plan": "Subscription plan",
    "lifetime_value": "Sum of all purchases, EUR",
}
EVENT_DESCRIPTIONS = {
    "purchase": "An order was paid",
    "page_visit": "A page of the shop was viewed",
    "session_start": "A visit started",
}


def _screenshot(page: Any, path: Path) -> None:
    """The whole page in one viewport, so the sticky bars sit where they belong."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1366, "height": max(860, int(height))})
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1366, "height": 860})


def _demo() -> Project:
    call_command("seed_demo", customers=25, json=True, stdout=io.StringIO())
    project = Project.objects.get(name="Demo shop")
    actor = principal_for_system(project, label="tests")
    # Leave some of the demo's PII unflagged, so the page has suggestions to show.
    pii_flags_set(
        actor=actor,
        customer_attributes={"first_name": False, "last_name": False, "birth_date": False},
        event_attributes={("purchase", "card_last4"): False},
    )
    catalog_changes_apply(
        actor=actor,
        customer_attributes=[
            CustomerAttributeChange(name=n, description=d) for n, d in DESCRIPTIONS.items()
        ],
        event_types=[EventTypeChange(name=n, description=d) for n, d in EVENT_DESCRIPTIONS.items()],
    )
    return project


def test_flag_on_both_tabs_save_reload(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    project = _demo()
    first_name = CustomerAttribute.objects.get(project=project, name="first_name")
    card = EventAttribute.objects.get(
        event_type__project=project, event_type__name="purchase", name="card_last4"
    )
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, "admin", "demo-admin-pass")
    page.goto(f"{live_server.url}/projects/{project.token}/data-manager/")

    bar = page.locator("#dm-savebar")
    assert not bar.is_visible()
    # Customer attributes tab: hover the row, click its lock.
    row = page.locator("tr.dm-row[data-name='first_name']")
    assert "suggested" in row.inner_text()
    row.hover()
    row.locator("label.dm-lock").click()
    assert bar.is_visible()
    assert "1 unsaved change" in bar.inner_text()
    assert "is-staged" in (row.get_attribute("class") or "")
    page.locator("tr.dm-row[data-name='city'] .dm-values summary").click()
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1366, "height": max(860, int(height))})
    page.locator("tr.dm-row[data-name='plan']").hover()
    page.wait_for_timeout(250)  # let the hover fade of the other locks finish
    page.screenshot(path=str(screenshot_dir / "datamanager-customers.png"))
    page.set_viewport_size({"width": 1366, "height": 860})
    page.locator("tr.dm-row[data-name='city'] .dm-values summary").click()

    # Events tab: expand purchase, flag card_last4. Staged work on the other tab survives.
    page.click("a.dm-tab[data-tab='events']")
    assert page.locator("#dm-panel-events").is_visible()
    purchase = page.locator("details.dm-event[data-name='purchase']")
    purchase.locator("summary.dm-event-head").click()
    card_row = purchase.locator("tr.dm-row[data-name='card_last4']")
    card_row.hover()
    card_row.locator("label.dm-lock").click()
    assert "2 unsaved changes" in bar.inner_text()
    assert purchase.locator(".dm-flagged-n").inner_text() == "2"
    page.locator("details.dm-event[data-name='page_visit'] summary.dm-event-head").click()
    _screenshot(page, screenshot_dir / "datamanager-events.png")

    # Nothing is saved before "Save changes".
    first_name.refresh_from_db()
    card.refresh_from_db()
    assert not first_name.pii and not card.pii

    page.click("#dm-save")
    page.wait_for_load_state("networkidle")
    assert "Saved 2 changes." in page.inner_text("main")
    first_name.refresh_from_db()
    card.refresh_from_db()
    assert first_name.pii and card.pii

    page.reload()
    assert page.locator(f"#ca-{first_name.pk}-pii").is_checked()
    assert page.locator(f"#ea-{card.pk}-pii").is_checked()
    page.click("a.dm-tab[data-tab='events']")
    page.locator("details.dm-event[data-name='purchase'] summary.dm-event-head").click()
    assert page.locator(f"label[for='ea-{card.pk}-pii'] .dm-lock-closed").is_visible()
    page.click("a.dm-tab[data-tab='customers']")
    assert page.locator(f"label[for='ca-{first_name.pk}-pii'] .dm-lock-closed").is_visible()
    assert not errors, errors


def test_unflag_asks_in_a_dialog_and_discard_resets(
    page: Any, live_server: Any, transactional_db: Any
) -> None:
    project = _demo()
    sign_in(page, live_server, "admin", "demo-admin-pass")
    page.goto(f"{live_server.url}/projects/{project.token}/data-manager/")
    row = page.locator("tr.dm-row[data-name='phone']")
    row.locator("label.dm-lock").click()
    page.locator("#dm-discard").click()
    assert not page.locator("#dm-savebar").is_visible()
    assert row.locator("input.dm-pii").is_checked()

    row.locator("label.dm-lock").click()
    page.click("#dm-save")
    dialog = page.locator("#dm-confirm-dialog")
    assert dialog.is_visible() and "phone" in dialog.inner_text()
    page.click("#dm-confirm-cancel")
    assert CustomerAttribute.objects.get(project=project, name="phone").pii
    page.click("#dm-save")
    page.click("#dm-confirm-ok")
    page.wait_for_load_state("networkidle")
    assert not CustomerAttribute.objects.get(project=project, name="phone").pii

    # Search and the PII filter apply as you type.
    page.fill("#dm-q", "name")
    assert page.locator("tr.dm-row[data-name='first_name']").is_visible()
    assert not page.locator("tr.dm-row[data-name='city']").is_visible()


def test_works_without_javascript(
    browser: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    """The lock is a label for a checkbox: flagging and saving is a plain form post."""
    project = _demo()
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1366, "height": 860}
    )
    page = context.new_page()
    try:
        sign_in(page, live_server, "admin", "demo-admin-pass")
        page.goto(f"{live_server.url}/projects/{project.token}/data-manager/")
        last_name = CustomerAttribute.objects.get(project=project, name="last_name")
        page.click(f"label[for='ca-{last_name.pk}-pii']")
        page.click("#dm-save")
        page.wait_for_load_state("networkidle")
        assert "Saved 1 change." in page.inner_text("main")
        last_name.refresh_from_db()
        assert last_name.pii
        # Tabs are links, events expand with <details>.
        page.click("a.dm-tab[data-tab='events']")
        purchase = page.locator("details.dm-event[data-name='purchase']")
        purchase.locator("summary.dm-event-head").click()
        assert purchase.locator("tr.dm-row[data-name='total']").is_visible()
    finally:
        context.close()
