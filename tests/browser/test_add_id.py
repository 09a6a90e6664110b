"""The Data manager's "Add ID" in a real browser, with and without JavaScript.

The panel opens from the Customer attributes tab, adds a hard PII ID that shows up as a
locked "hard ID" row, and a refused name keeps the panel open with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datamanager.models import CustomerAttribute
from tests.browser.conftest import sign_in
from tests.browser.test_datamanager import _demo, _screenshot


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_add_an_id_from_the_customer_attributes_tab(
    browser: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path, javascript: bool
) -> None:
    project = _demo()
    context = browser.new_context(
        viewport={"width": 1366, "height": 860}, java_script_enabled=javascript
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, "admin", "demo-admin-pass")
    page.goto(f"{live_server.url}/projects/{project.token}/data-manager/")

    page.click("#dm-add-id-toggle")
    page.fill("input[name=id-name]", "crm_id")
    page.fill("input[name=id-desc]", "Customer number in the CRM")
    assert page.is_checked("input[name=id-pii]")  # on by default
    assert page.is_checked("input[name=id-kind][value=hard]")
    if javascript:
        _screenshot(page, screenshot_dir / "datamanager-add-id.png")
    page.click("#dm-add-id-submit")
    page.wait_for_load_state("networkidle")
    assert "Added the hard ID 'crm_id', flagged as personal data." in page.content().replace(
        "&#x27;", "'"
    )
    row = page.locator("tr.dm-row[data-name=crm_id]")
    assert row.locator(".badge-id").inner_text() == "hard ID"
    assert row.locator("input.dm-pii").is_checked()
    attr = CustomerAttribute.objects.get(project=project, name="crm_id")
    assert (attr.kind, attr.hard, attr.pii) == ("id", True, True)

    # A taken name: the panel stays open with the reason and what was typed.
    page.click("#dm-add-id-toggle")
    page.fill("input[name=id-name]", "email")
    page.check("input[name=id-kind][value=soft]")
    page.click("#dm-add-id-submit")
    page.wait_for_load_state("networkidle")
    assert page.locator("details.dm-add-id[open]").count() == 1
    assert "A customer property named 'email' already exists." in page.inner_text(".dm-add-id-body")
    assert page.input_value("input[name=id-name]") == "email"
    assert page.is_checked("input[name=id-kind][value=soft]")
    if javascript:
        _screenshot(page, screenshot_dir / "datamanager-add-id-refused.png")
    # The refused post answers 400 (the browser logs that); nothing else may fail.
    assert [e for e in errors if "status of 400" not in e] == []
    context.close()
