"""The API page's public keys, rotation and public tracking settings, and the consent pages,
in a real browser. Saves docs/screenshots/access-api-keys.png, consents-categories.png and
consents-customer.png (with UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from access.models import ApiKey, TrackingSettings
from access.selectors import api_key_authenticate
from consents.services import consent_category_create
from customers.services import event_track
from datamanager.services import pii_flags_set
from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_public_key_rotation_and_tracking_settings(
    page: Any, live_server: Any, screenshot_dir: Path
) -> None:
    project = factories.make_project("Shop")
    factories.make_member(project, "alice", roles=("Admin",))
    backend = factories.make_key(project, "track", "read_customers", name="Backend sync")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, "alice", factories.PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.token}/settings/api/")

    page.click("button:has-text('New API key')")
    page.fill("#panel-create input[name=name]", "Web SDK")
    page.check("#panel-create input[name=kind][value=public]")
    with page.expect_navigation():
        page.click("#panel-create button[type=submit]")
    public_id = page.inner_text("[data-testid=api-public-key]").strip()
    assert ApiKey.objects.get(key_id=public_id).is_public

    page.on("dialog", lambda dialog: dialog.accept())
    row = page.locator("tr[data-key='Backend sync']")
    with page.expect_navigation():
        row.locator("button:has-text('Rotate secret')").click()
    new_secret = page.inner_text("[data-testid=api-secret]").strip()
    assert "old secret keeps working until" in page.inner_text(".secret-box")
    assert api_key_authenticate(backend.key.key_id, new_secret) is not None
    assert api_key_authenticate(backend.key.key_id, backend.secret) is not None

    page.fill("textarea[name=allowed_origins]", "https://shop.example\nhttps://m.shop.example")
    with page.expect_navigation():
        page.click("#tracking-settings button[type=submit]")
    assert TrackingSettings.objects.get(project=project).allowed_origins == [
        "https://shop.example",
        "https://m.shop.example",
    ]
    assert page.locator("[data-testid=grace]").count() == 1
    page.screenshot(path=str(screenshot_dir / "access-api-keys.png"), full_page=True)
    assert new_secret not in page.content()
    assert not errors, errors


def test_consent_categories_and_a_customers_consents(
    page: Any, live_server: Any, screenshot_dir: Path
) -> None:
    project = factories.make_project("Shop")
    factories.make_member(project, "alice", roles=("Admin",))
    factories.make_member(project, "mark", roles=("Marketer",))
    system = factories.system(project)
    consent_category_create(actor=system, name="sms", label="SMS")
    consent_category_create(
        actor=system, name="paying_customer", label="Paying customer", legitimate_interest=True
    )
    ids = {"registered": "ann@shop.test", "cookie": "ck-ann"}
    customer = factories.track_customer(project, ids, {"email": "ann@shop.test"})
    now = time.time()
    for ts, props in (
        (now - 900, {"action": "accept", "category": "newsletter", "valid_until": "unlimited"}),
        (now - 600, {"action": "accept", "category": "sms", "valid_until": now + 86400 * 30}),
        (now - 300, {"action": "reject", "category": "sms", "message": "Reply STOP from ann"}),
    ):
        event_track(actor=system, ids=ids, event_type="consent", timestamp=ts, properties=props)
    pii_flags_set(
        actor=system,
        customer_attributes={"registered": True, "cookie": True, "email": True},
        event_attributes={("consent", "message"): True},
    )
    sign_in(page, live_server, "alice", factories.PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.token}/consents/")
    page.click("button:has-text('New category')")
    page.fill("#panel-create input[name=name]", "newsletter")
    page.fill("#panel-create input[name=label]", "Newsletter")
    with page.expect_navigation():
        page.click("#panel-create button[type=submit]")
    assert page.locator("tr[data-category=newsletter]").count() == 1
    page.screenshot(path=str(screenshot_dir / "consents-categories.png"), full_page=True)

    page.goto(f"{live_server.url}/projects/{project.token}/customers/{customer.pk}/")
    with page.expect_navigation():
        page.click("a.btn:has-text('Consents')")
    states = page.locator("[data-testid=consent-state]").all_inner_texts()
    assert [s.split()[0] for s in states] == ["valid", "valid", "not"]  # newsletter, paying, sms
    page.context.clear_cookies()
    sign_in(page, live_server, "mark", factories.PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.token}/consents/customers/{customer.pk}/")
    body = page.content()
    assert "ann@shop.test" not in body and "Reply STOP" not in body and "******" in body
    page.screenshot(path=str(screenshot_dir / "consents-customer.png"), full_page=True)
