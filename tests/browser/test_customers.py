"""The customer filter and profile in a real browser: the marketer sees no demo PII, the admin does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.urls import reverse

from customers.models import Customer
from tests.browser.conftest import sign_in
from tests.customers.demo_data import leaked, seed_demo

PASSWORDS = {"admin": "demo-admin-pass", "marketer": "demo-marketer-pass"}


def _open_pages(page: Any, live_server: Any, project: Any, customer: Customer) -> tuple[str, str]:
    """Open the list and a profile with every event expanded; return the HTML + text of both."""
    page.goto(live_server.url + reverse("customers:list", kwargs={"token": project.token}))
    page.wait_for_selector("table.cu-table tbody tr")
    list_dump = page.content() + page.inner_text("body")
    page.goto(
        live_server.url
        + reverse("customers:detail", kwargs={"token": project.token, "pk": customer.pk})
    )
    page.wait_for_selector(".cu-events")
    # Expand every event so its properties are part of the visible text too.
    page.eval_on_selector_all("details.cu-event", "els => els.forEach(e => e.open = true)")
    profile_dump = page.content() + page.inner_text("body")
    return list_dump, profile_dump


def _profile_customer(project: Any) -> Customer:
    """A customer with a purchase (so the timeline shows PII event attributes)."""
    customer = (
        Customer.objects.filter(project=project, events__event_type__name="purchase")
        .order_by("pk")
        .first()
    ) or Customer.objects.filter(project=project).order_by("pk").first()
    assert customer is not None
    return customer


def test_marketer_sees_no_demo_pii_and_admin_does(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    demo = seed_demo(30)
    customer = _profile_customer(demo.project)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    sign_in(page, live_server, "marketer", PASSWORDS["marketer"])
    list_dump, profile_dump = _open_pages(page, live_server, demo.project, customer)
    assert leaked(list_dump, demo.emails | demo.phones) == []
    assert leaked(profile_dump, demo.emails | demo.phones) == []
    assert leaked(list_dump + profile_dump, demo.pii_values) == []
    assert "******" in list_dump and "******" in profile_dump
    page.goto(live_server.url + reverse("customers:list", kwargs={"token": demo.project.token}))
    page.screenshot(path=str(screenshot_dir / "customers-list-marketer.png"), full_page=True)
    page.goto(
        live_server.url
        + reverse("customers:detail", kwargs={"token": demo.project.token, "pk": customer.pk})
    )
    page.locator("details.cu-event").first.locator("summary").click()
    page.screenshot(path=str(screenshot_dir / "customers-profile-marketer.png"), full_page=True)

    page.context.clear_cookies()
    sign_in(page, live_server, "admin", PASSWORDS["admin"])
    list_dump, profile_dump = _open_pages(page, live_server, demo.project, customer)
    shown = leaked(list_dump, demo.emails)
    assert len(shown) >= 25  # the first page of the list shows e-mails
    assert customer.properties["email"] in profile_dump
    assert customer.properties["phone"] in profile_dump
    page.goto(live_server.url + reverse("customers:list", kwargs={"token": demo.project.token}))
    page.screenshot(path=str(screenshot_dir / "customers-list-admin.png"), full_page=True)
    page.goto(
        live_server.url
        + reverse("customers:detail", kwargs={"token": demo.project.token, "pk": customer.pk})
    )
    page.locator("details.cu-event").first.locator("summary").click()
    page.screenshot(path=str(screenshot_dir / "customers-profile-admin.png"), full_page=True)
    assert not errors, errors


def test_filter_builder_works_in_the_browser(
    page: Any, live_server: Any, transactional_db: Any
) -> None:
    demo = seed_demo(20)
    sign_in(page, live_server, "marketer", PASSWORDS["marketer"])
    page.goto(live_server.url + reverse("customers:list", kwargs={"token": demo.project.token}))
    page.select_option("select[name='c0.attribute']", "plan")
    page.select_option("select[name='c0.operator']", "equals")
    page.fill("input[name='c0.value']", "premium")
    page.click("text=Apply filter")
    page.wait_for_selector("table.cu-table")
    expected = Customer.objects.filter(project=demo.project, properties__plan="premium").count()
    assert f"{expected} customers match" in page.inner_text(".cu-sub")
    # The operator "exists" hides the value input (JavaScript), "between" shows the second.
    page.select_option("select[name='c1.operator']", "between")
    assert page.is_visible("input[name='c1.value2']")
    page.select_option("select[name='c1.operator']", "exists")
    assert not page.is_visible("input[name='c1.value']")
    # PII attributes are not offered to the marketer.
    options = page.eval_on_selector_all(
        "select[name='c0.attribute'] option", "els => els.map(e => e.value)"
    )
    assert "plan" in options and "email" not in options and "phone" not in options
