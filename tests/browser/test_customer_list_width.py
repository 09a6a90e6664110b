"""The customer list at 1280 px with the admin's default columns stays inside its card.

The table scrolls inside its own box (never the page), and the customer's # column stays
in view while it does. Saves docs/screenshots/customers-list-1280.png (UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.urls import reverse

from tests.browser.conftest import sign_in
from tests.customers.demo_data import seed_demo

WIDTH = 1280


def test_the_admins_list_fits_its_card_at_1280_px_with_the_id_column_sticky(
    page: Any, live_server: Any, transactional_db: Any, screenshot_dir: Path
) -> None:
    demo = seed_demo(30)
    page.set_viewport_size({"width": WIDTH, "height": 900})
    sign_in(page, live_server, "admin", "demo-admin-pass")
    page.goto(live_server.url + reverse("customers:list", kwargs={"token": demo.project.token}))
    page.wait_for_selector("table.cu-table tbody tr")
    page.screenshot(path=str(screenshot_dir / "customers-list-1280.png"))

    # Nothing runs off the page: no horizontal page scroll, the table's box ends inside it.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    wrap = page.locator(".cu-table-wrap").bounding_box()
    card_right = page.evaluate(
        "document.querySelector('.page').getBoundingClientRect().right"
        " - parseFloat(getComputedStyle(document.querySelector('.page')).paddingRight)"
    )
    assert wrap["x"] >= 0 and wrap["x"] + wrap["width"] <= card_right + 0.5
    # Every default column is in view at 1280 px, none cut off at the card's edge.
    inner = page.evaluate(
        "(() => { const w = document.querySelector('.cu-table-wrap');"
        " return [w.scrollWidth, w.clientWidth]; })()"
    )
    assert inner[0] <= inner[1], inner

    # Narrower (or with more columns), the table scrolls inside its box, not the page ...
    page.set_viewport_size({"width": 900, "height": 900})
    page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= 900
    inner = page.evaluate(
        "(() => { const w = document.querySelector('.cu-table-wrap');"
        " return [w.scrollWidth, w.clientWidth]; })()"
    )
    assert inner[0] > inner[1], inner
    # ... and the tick box and # column stay where they were when it does.
    first_id = page.locator("table.cu-table tbody tr:first-child td.cu-id")
    before = first_id.bounding_box()["x"]
    page.evaluate("document.querySelector('.cu-table-wrap').scrollLeft = 10000")
    page.wait_for_timeout(100)
    assert page.evaluate("document.querySelector('.cu-table-wrap').scrollLeft") > 0
    assert abs(first_id.bounding_box()["x"] - before) < 1
    header = page.locator("table.cu-table thead th.cu-id").bounding_box()
    assert abs(header["x"] - before) < 1
    assert page.locator("table.cu-table tbody tr:first-child td.cu-id").is_visible()
