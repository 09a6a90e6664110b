"""docs/tour.md in a real browser, step by step, taking the tour's screenshots.

Flag ``city`` in the Data manager, the marketer's ``******`` and the refusal of a filter on
personal data, anonymize one customer from the profile, then more than 100 in bulk by typing
the count (a wrong number first: nothing happens), and "Try it out" on the Swagger page with a
demo key. ``UPDATE_SCREENSHOTS=1`` writes the pictures to docs/screenshots/tour-*.png.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from django.core.management import call_command

from access.models import Project
from customers.models import AnonymizationJob, Customer
from datamanager.models import CustomerAttribute
from tests.browser.conftest import sign_in

# Enough that "plan not equals business" matches more than 100 (the typed-count threshold).
DEMO_CUSTOMERS = 160
BULK_FILTER = "c=plan:not_equals:business"


def _full_page(page: Any, path: Path) -> None:
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1366, "height": min(max(860, int(height)), 1600)})
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1366, "height": 860})


def test_the_tour_in_a_browser(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    out = io.StringIO()
    call_command("seed_demo", customers=DEMO_CUSTOMERS, json=True, stdout=out)
    demo = json.loads(out.getvalue().strip().splitlines()[-1])
    project = Project.objects.get(name="Demo shop")
    base = f"{live_server.url}/projects/{project.token}"
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # 1. The admin flags city in the Data manager.
    sign_in(page, live_server, "admin", "demo-admin-pass")
    page.goto(f"{base}/data-manager/")
    row = page.locator("tr.dm-row[data-name='city']")
    row.hover()
    row.locator("label.dm-lock").click()
    assert "1 unsaved change" in page.locator("#dm-savebar").inner_text()
    page.wait_for_timeout(250)  # the lock's transition
    page.screenshot(path=str(screenshot_dir / "tour-datamanager.png"))
    page.click("#dm-save")
    page.wait_for_load_state("networkidle")
    assert "Saved 1 change." in page.inner_text("main")
    assert CustomerAttribute.objects.get(project=project, name="city").pii

    # 2. The marketer sees ****** (city included), plan in clear.
    page.context.clear_cookies()
    sign_in(page, live_server, "marketer", "demo-marketer-pass")
    page.goto(f"{base}/customers/")
    page.wait_for_selector("table.cu-table tbody tr")
    text = page.inner_text("main")
    assert "******" in text
    first = Customer.objects.filter(project=project).order_by("pk").first()
    assert first is not None
    assert first.properties["email"] not in text and first.properties["city"] not in text
    page.screenshot(path=str(screenshot_dir / "tour-marketer-list.png"))

    # 3. A filter on email is refused, and says why.
    response = page.goto(f"{base}/customers/?c=email:contains:example")
    assert response is not None and response.status == 403
    assert "'email' is personal data" in page.inner_text("h1")
    assert "Nothing was searched." in page.inner_text("main")
    page.screenshot(path=str(screenshot_dir / "tour-pii-filter-refused.png"))

    # 4. The admin anonymizes one customer from the profile.
    page.context.clear_cookies()
    sign_in(page, live_server, "admin", "demo-admin-pass")
    one = Customer.objects.filter(project=project).exclude(properties__plan="business")
    one_customer = one.order_by("pk").first()
    assert one_customer is not None
    page.goto(f"{base}/customers/{one_customer.pk}/")
    page.click("a[data-anonymize-dialog]")
    dialog = page.locator("dialog#an-dialog")
    dialog.wait_for(state="visible")
    assert "cannot be undone" in dialog.inner_text()
    page.screenshot(path=str(screenshot_dir / "tour-anonymize-dialog.png"))
    dialog.locator("button[data-an-confirm]").click()
    page.wait_for_load_state("networkidle")
    assert "was anonymized" in page.inner_text("main")

    # 5. Bulk: more than 100 matching, so the count must be typed.
    expected = (
        Customer.objects.filter(project=project, anonymized_at__isnull=True)
        .exclude(properties__plan="business")
        .count()
    )
    assert expected > 100
    page.goto(f"{base}/customers/?{BULK_FILTER}")
    page.check("input[name=all_matching]")
    page.click(".an-bulk button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"Anonymize {expected} customers?" in page.inner_text("main")
    typed = page.locator("input[name=typed_count]")
    typed.fill(str(expected - 1))
    page.click("button[data-an-confirm]")
    page.wait_for_load_state("networkidle")
    error = page.locator("[data-typed-error]")
    assert f"You typed {expected - 1}, but {expected} customers" in error.inner_text()
    assert not AnonymizationJob.objects.exists()
    page.locator("input[name=typed_count]").fill(str(expected))
    page.screenshot(path=str(screenshot_dir / "tour-bulk-confirm.png"))
    page.click("button[data-an-confirm]")
    page.wait_for_load_state("networkidle")
    job = AnonymizationJob.objects.get()
    assert job.total == expected and f"/jobs/{job.public_id}/" in page.url
    page.wait_for_function(
        "() => document.querySelector('[data-job-badge]').textContent.trim() === 'Done'"
    )
    page.screenshot(path=str(screenshot_dir / "tour-bulk-job.png"))
    assert not (
        Customer.objects.filter(project=project, anonymized_at__isnull=True)
        .exclude(properties__plan="business")
        .exists()
    )

    # 6. Swagger: Authorize with the demo's full key, "Try it out" on the export of one
    # customer (a business customer, still there), Execute: 200 and the customer's e-mail.
    key = next(k for k in demo["api_keys"] if k["name"] == "Demo full access")
    kept = Customer.objects.filter(project=project, properties__plan="business").first()
    assert kept is not None
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")
    info = page.inner_text(".swagger-ui .info")
    assert "HTTP Basic" in info and "key_id:secret" in info and "project token" in info
    page.click("button.authorize")
    modal = page.locator(".modal-ux")
    # Three schemes are offered (Basic, and a public key as header or query); the Basic
    # one is the form with a password field.
    basic = modal.locator(".auth-container").filter(has=page.locator("input[type=password]"))
    basic.locator("input[type=text]").fill(key["key_id"])
    basic.locator("input[type=password]").fill(key["secret"])
    basic.locator("button.authorize").click()
    modal.locator("button.btn-done").first.click()
    page.screenshot(path=str(screenshot_dir / "tour-api-docs.png"))
    operation = page.locator("#operations-Customers-customer_export_one")
    operation.locator(".opblock-summary").click()
    try_it = operation.locator("button.try-out__btn")
    if try_it.count() and "Try it out" in try_it.inner_text():
        try_it.click()
    operation.locator("input[placeholder=token]").fill(str(project.token))
    body = json.dumps({"customer_ids": {"registered": kept.properties["email"]}}, indent=2)
    operation.locator("textarea.body-param__text").fill(body)
    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table tbody .response-col_status").first
    live.wait_for()
    assert live.inner_text().strip().startswith("200")
    assert kept.properties["email"] in operation.locator(".live-responses-table").inner_text()
    # The picture: the operation from its title to the live response. The generated curl
    # line carries the Authorization header (a throwaway test key, still): hidden.
    operation.locator(".curl-command").evaluate("el => { el.style.display = 'none'; }")
    top = operation.bounding_box()
    bottom = operation.locator(".live-responses-table").bounding_box()
    assert top is not None and bottom is not None
    scroll = page.evaluate("window.scrollY")
    page.screenshot(
        path=str(screenshot_dir / "tour-api-try-it-out.png"),
        full_page=True,
        clip={
            "x": top["x"],
            "y": top["y"] + scroll,
            "width": top["width"],
            "height": bottom["y"] + bottom["height"] - top["y"] + 8,
        },
    )

    # The only console errors are the two refusals the tour shows (no CSP violation).
    assert errors == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)",
        "Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ], errors
