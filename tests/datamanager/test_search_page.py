"""The Data manager's Search panel and its POST (datamanager/search_views.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from datamanager.models import CustomerAttribute
from tests import factories
from tests.conftest import CANARIES, World, assert_no_canary


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(world: World) -> str:
    return reverse("datamanager:catalog", kwargs={"token": world.project.token})


def _post_url(world: World) -> str:
    return reverse("datamanager:searchable", kwargs={"token": world.project.token})


def test_the_panel_lists_text_properties_and_their_cost(world: World) -> None:
    html = _client(world.admin).get(_page(world)).content.decode()
    panel = html.split('id="dm-search"', 1)[1].split("</section>", 1)[0]
    for name in ("email", "city", "plan", "first_name"):
        assert f"<code>{name}</code>" in panel
    assert "<code>registered</code>" not in panel  # IDs are always searchable by value
    assert 'name="searchable_on" value="city"' in panel
    assert 'form="dm-search-form"' in panel
    assert 'id="dm-search-form"' in html
    if connection.vendor == "postgresql":
        assert "Equals</strong> on any property is always fast" in panel
        assert "MB" in panel
    else:
        assert "builds no search indexes" in panel
    # The panel names properties, never a value (the admin's page shows values elsewhere).
    for canary in CANARIES:
        assert canary not in panel


def test_the_marketer_sees_no_value_in_the_page(world: World) -> None:
    assert_no_canary(_client(world.marketer).get(_page(world)).content.decode())


def test_a_viewer_sees_the_panel_without_buttons_or_values(world: World) -> None:
    viewer = factories.make_member(world.project, "vic", roles=("Viewer",))
    html = _client(viewer).get(_page(world)).content.decode()
    panel = html.split('id="dm-search"', 1)[1].split("</section>", 1)[0]
    assert "<code>city</code>" in panel
    assert "searchable_on" not in panel
    for canary in CANARIES:
        assert canary not in html


def test_make_searchable_and_back(world: World, django_capture_on_commit_callbacks: Any) -> None:
    client = _client(world.admin)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(_post_url(world), {"searchable_on": "city"})
    assert response.status_code == 302
    assert response["Location"].endswith("?tab=customers#dm-search")
    assert CustomerAttribute.objects.get(project=world.project, name="city").searchable
    page = client.get(_page(world)).content.decode()
    assert 'name="searchable_off" value="city"' in page
    with django_capture_on_commit_callbacks(execute=False):
        client.post(_post_url(world), {"searchable_off": "city"})
    assert not CustomerAttribute.objects.get(project=world.project, name="city").searchable
    actions = AuditEvent.objects.filter(action="datamanager.searchable").order_by("id")
    assert [e.details["new"] for e in actions] == [True, False]
    assert all(e.actor_user == world.admin for e in actions)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"searchable_on": "no.such@value.test"}, 404),
        ({"searchable_on": "registered"}, 400),
        ({}, 400),
        ({"searchable_on": "city", "searchable_off": "plan"}, 400),
    ],
)
def test_refused_posts_write_nothing_and_echo_no_value(
    world: World, data: dict[str, str], status: int
) -> None:
    response = _client(world.admin).post(_post_url(world), data)
    assert response.status_code == status
    assert "no.such@value.test" not in response.content.decode()
    assert not CustomerAttribute.objects.filter(project=world.project, searchable=True).exists()
    assert not AuditEvent.objects.filter(action="datamanager.searchable").exists()


def test_the_marketer_may_not_change_it(world: World) -> None:
    response = _client(world.marketer).post(_post_url(world), {"searchable_on": "city"})
    assert response.status_code == 403
    assert not CustomerAttribute.objects.get(project=world.project, name="city").searchable


def test_another_projects_admin_gets_404(world: World) -> None:
    response = _client(world.outsider).post(_post_url(world), {"searchable_on": "city"})
    assert response.status_code == 404
