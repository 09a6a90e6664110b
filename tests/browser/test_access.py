"""Access management in a real browser, as the demo admin: Personal data off for the marketer,
a custom role, an API key. Saves docs/screenshots/access-team.png and access-api.png."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from access.models import Project, Role
from access.permissions import Perm
from access.selectors import api_key_authenticate, principal_for_user
from access.services import member_set_direct_grant, role_permissions
from tests import factories
from tests.browser.conftest import sign_in


@pytest.fixture
def demo(transactional_db: Any) -> dict[str, Any]:
    out = StringIO()
    call_command("seed_demo", "--customers", "12", "--json", stdout=out)
    data = json.loads(out.getvalue().strip().splitlines()[-1])
    project = Project.objects.get(token=data["project_token"])
    marketer = get_user_model().objects.get(username="marketer")
    # Give the marketer Personal data first, so the admin has something to turn off.
    member_set_direct_grant(
        actor=factories.system(project), user=marketer, perm=Perm.VIEW_PERSONAL_DATA, granted=True
    )
    # A fuller team, as a real project has.
    factories.make_member(project, "dana", roles=("Data manager",))
    viktor = factories.make_member(project, "viktor", roles=("Viewer",))
    member_set_direct_grant(
        actor=factories.system(project), user=viktor, perm=Perm.ANONYMIZE_CUSTOMERS, granted=True
    )
    admin = next(u for u in data["users"] if u["username"] == "admin")
    return {"project": project, "marketer": marketer, "admin_password": admin["password"]}


def test_admin_manages_access(
    page: Any, live_server: Any, demo: dict[str, Any], screenshot_dir: Path
) -> None:
    project: Project = demo["project"]
    marketer = demo["marketer"]
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    base = f"{live_server.url}/projects/{project.token}/settings"

    sign_in(page, live_server, "admin", demo["admin_password"])
    # The Settings menu leads to Access management.
    page.click("nav.mainnav summary:has-text('Settings')")
    page.click("nav.mainnav a:has-text('Access management')")
    page.wait_for_load_state("networkidle")
    assert page.url == f"{base}/team/"

    # Turn Personal data off for the marketer: the toggle saves on change.
    toggle = page.locator("[data-testid=pd-marketer]")
    assert toggle.is_checked()
    with page.expect_navigation():
        toggle.click()
    assert "Personal data is now off for marketer" in page.inner_text(".messages")
    assert not page.locator("[data-testid=pd-marketer]").is_checked()
    assert not principal_for_user(marketer, project).can_see_personal_data
    page.screenshot(path=str(screenshot_dir / "access-team.png"), full_page=True)

    # A custom role from the permission checkboxes.
    page.click(".tabs a:has-text('Roles')")
    page.click("button:has-text('New role')")
    page.fill("#panel-create input[name=name]", "Support")
    page.check("#panel-create input[value=view_customers]")
    page.check("#panel-create input[value=anonymize_customers]")
    with page.expect_navigation():
        page.click("#panel-create button[type=submit]")
    assert page.locator("tr[data-role=Support]").count() == 1
    role = Role.objects.get(project=project, name="Support")
    assert role_permissions(role) == {Perm.VIEW_CUSTOMERS, Perm.ANONYMIZE_CUSTOMERS}

    # An API key: the secret is on the page once, and it works.
    page.click(".tabs a:has-text('API')")
    page.click("button:has-text('New API key')")
    page.fill("#panel-create input[name=name]", "Warehouse sync")
    page.check("#panel-create input[value=read_customers]")
    with page.expect_navigation():
        page.click("#panel-create button[type=submit]")
    secret = page.inner_text("[data-testid=api-secret]").strip()
    key_id = page.inner_text("#new-key-id").strip()
    key = api_key_authenticate(key_id, secret)
    assert key is not None and key.permission_names == ["track", "read_customers"]
    assert key.project_id == project.pk
    page.screenshot(path=str(screenshot_dir / "access-api.png"), full_page=True)

    page.goto(f"{base}/api/")
    assert secret not in page.content()
    assert not errors, errors
