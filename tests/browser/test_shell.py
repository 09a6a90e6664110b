"""The app shell in a real browser: sign in, see your project, no console errors."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.browser.conftest import sign_in


def test_sign_in_lands_in_the_project(page: Any, live_server: Any, transactional_db: Any) -> None:
    project = factories.make_project("Browser shop")
    factories.make_member(project, "bella", roles=("Admin",))
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    sign_in(page, live_server, "bella", factories.PASSWORD)
    assert "Browser shop" in page.inner_text("header")
    assert "bella" in page.inner_text("header")
    assert not errors, errors
