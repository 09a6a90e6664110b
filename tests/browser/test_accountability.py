"""Accountability in a real browser (issue 16): a marketer asks for a temporary reveal with a
reason, sees the values, and sees ``******`` again after expiry; the admin's access
history, reveals, access review and privacy overview pages (screenshots in docs/)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from access.permissions import Perm
from access.services import role_create
from accountability.reveals import reveal_request
from customers.models import Customer
from datamanager.services import pii_flags_set
from tests import factories
from tests.browser.conftest import sign_in
from tests.conftest import CANARY_ADDRESS, CANARY_EMAIL, CANARY_NAME

REASON = "The customer called support about a parcel sent to the wrong address (ticket 4711)."


def _setup() -> tuple[Any, Customer]:
    project = factories.make_project("Reveal shop")
    factories.make_member(project, "petra", roles=("Admin",))
    role_create(
        actor=factories.system(project),
        name="Support",
        permissions=[Perm.VIEW_CUSTOMERS, Perm.EXPORT_CUSTOMERS, Perm.REQUEST_PERSONAL_DATA],
    )
    factories.make_member(project, "mia", roles=("Support",))
    factories.make_member(project, "pia", roles=("Viewer",), personal_data=True)
    factories.make_key(project, "read_customers", "view_personal_data", name="Warehouse sync")
    customer = factories.track_customer(
        project,
        {"registered": CANARY_EMAIL, "cookie": "ck-reveal-1"},
        {"email": CANARY_EMAIL, "first_name": CANARY_NAME, "city": "Bratislava", "plan": "pro"},
        [("purchase", {"total": 42, "shipping_address": CANARY_ADDRESS})],
    )
    factories.track_customer(project, {"registered": "second@x.test"}, {"email": "second@x.test"})
    pii_flags_set(
        actor=factories.system(project),
        customer_attributes={"registered": True, "cookie": True, "email": True, "first_name": True},
        event_attributes={("purchase", "shipping_address"): True},
    )
    return project, customer


def test_a_marketer_reveals_with_a_reason_and_the_reveal_expires(
    page: Any,
    live_server: Any,
    transactional_db: Any,
    screenshot_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, customer = _setup()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, "mia", factories.PASSWORD)
    profile = f"{live_server.url}/projects/{project.token}/customers/{customer.pk}/"
    page.goto(profile)
    assert CANARY_EMAIL not in page.content()
    assert "******" in page.inner_text("main")
    page.click("text=Reveal personal data…")
    page.fill("textarea[name=reason]", REASON)
    page.select_option("select[name=minutes]", "15")
    page.screenshot(path=str(screenshot_dir / "accountability-reveal-request.png"), full_page=True)
    page.click("button:has-text('Reveal now')")
    page.wait_for_load_state("networkidle")
    main = page.inner_text("main")
    assert CANARY_EMAIL in main and CANARY_NAME in main
    assert "Personal data revealed to you" in main and REASON in main
    page.screenshot(path=str(screenshot_dir / "accountability-reveal-profile.png"), full_page=True)

    # Sixteen minutes later (the server's clock; the check runs at every request).
    later = timezone.now() + dt.timedelta(minutes=16)
    monkeypatch.setattr(timezone, "now", lambda: later)
    page.reload()
    main = page.inner_text("main")
    assert CANARY_EMAIL not in page.content() and CANARY_NAME not in page.content()
    assert "******" in main and "Reveal personal data" in main
    assert errors == []


def test_admin_pages_history_reveals_review_overview(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    project, customer = _setup()
    mia = project.memberships.get(user__username="mia").user
    reveal_request(
        actor=factories.principal_of(mia, project),
        customer_pk=customer.pk,
        reason=REASON,
        minutes=15,
    )
    call_command("verify_audit_trail", stdout=io.StringIO())
    sign_in(page, live_server, "mia", factories.PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.token}/customers/{customer.pk}/")
    page.context.clear_cookies()

    sign_in(page, live_server, "petra", factories.PASSWORD)
    base = f"{live_server.url}/projects/{project.token}"
    page.goto(f"{base}/customers/{customer.pk}/")
    page.click("text=Access history")
    page.wait_for_load_state("networkidle")
    main = page.inner_text("main")
    assert "mia" in main and REASON in main and "petra" in main
    page.screenshot(path=str(screenshot_dir / "accountability-access-history.png"), full_page=True)

    page.goto(f"{base}/access-log/reveals/")
    assert REASON in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "accountability-reveals.png"), full_page=True)

    page.goto(f"{base}/access-log/review/")
    main = page.inner_text("main")
    assert "pia" in main and "Warehouse sync" in main and "direct grant" in main
    page.fill("textarea[name=note]", "Quarterly review: support keeps reveals only.")
    page.click("button:has-text('Record review')")
    page.wait_for_load_state("networkidle")
    assert "ago by petra" in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "accountability-review.png"), full_page=True)

    page.goto(f"{base}/access-log/overview/")
    main = page.inner_text("main")
    assert "Temporary reveals per day" in main and "held" in main
    assert page.locator("svg rect").count() >= 1
    page.screenshot(path=str(screenshot_dir / "accountability-overview.png"), full_page=True)
    for text_ in (CANARY_EMAIL, CANARY_NAME, CANARY_ADDRESS):
        assert text_ not in page.content()
