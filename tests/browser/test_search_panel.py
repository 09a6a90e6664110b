"""The Data manager's Search panel in a real browser, with and without JavaScript: "Make
searchable" posts on its own (staged flag changes stay unsaved), and the panel then says
the property is searchable, with its index's state on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from datamanager.models import CustomerAttribute
from tests.browser.conftest import sign_in
from tests.browser.test_datamanager import _demo, _screenshot


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_make_a_property_searchable(
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
    panel = page.locator("#dm-search")
    assert panel.locator("code", has_text="city").count() == 1
    page.click("#dm-search button[name=searchable_on][value=email]")
    page.wait_for_load_state("networkidle")
    assert "is searchable" in page.content()
    row = page.locator("#dm-search tr[data-name=email]")
    assert row.locator("button[name=searchable_off]").count() == 1
    attribute = CustomerAttribute.objects.get(project=project, name="email")
    assert attribute.searchable
    if connection.vendor == "postgresql":
        # The eager task built it before the redirect was followed.
        assert attribute.search_index_state == "ready"
        assert "Ready" in row.inner_text()
    if javascript:
        page.locator("#dm-search").scroll_into_view_if_needed()
        _screenshot(page, screenshot_dir / "datamanager-search.png")
    assert not errors, errors
    context.close()
