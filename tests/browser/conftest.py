"""Playwright against Debian's chromium (a browser download does not work on these machines).

Browser tests are marked ``browser`` and skipped when /usr/bin/chromium is missing, so the
suite still runs on a machine without it; CI installs it (see .ci/run).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if not Path(CHROMIUM).exists():
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed"))


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Any:
    """Playwright's sync API keeps an event loop running in the test thread from the first
    browser test to the end of the session; Django's ORM calls made there are still
    synchronous and safe. Set only when browser tests were collected; subprocesses that
    check production settings drop it from their environment."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1366, "height": 860}}


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where browser tests save screenshots: ``docs/screenshots`` when UPDATE_SCREENSHOTS=1
    (to refresh the docs), else a temporary folder, so a test run leaves the tree clean."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def sign_in(page: Any, live_server: Any, username: str, password: str) -> None:
    """Sign in through the real login form."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
