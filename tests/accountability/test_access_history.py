"""Access history: on the profile and from the API, only for ``view_access_log``."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from access.models import ProjectGroupObjectPermission, Role
from access.permissions import Perm
from accountability.models import PersonalDataAccess

from .. import factories
from ..api.conftest import ApiClient
from ..conftest import CANARIES, World


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def profile_url(world: World) -> str:
    return reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )


def history_url(world: World, pk: int | None = None) -> str:
    return reverse(
        "accountability:customer_history",
        kwargs={"token": world.project.token, "pk": pk or world.customer.pk},
    )


def test_admin_role_has_view_access_log_and_others_do_not(world: World) -> None:
    assert factories.principal_of(world.admin, world.project).has(Perm.VIEW_ACCESS_LOG)
    assert not factories.principal_of(world.marketer, world.project).has(Perm.VIEW_ACCESS_LOG)


def test_profile_links_to_the_history_which_lists_who_saw_what(world: World) -> None:
    admin = client_for(world.admin)
    profile = admin.get(profile_url(world)).content.decode()
    assert history_url(world) in profile
    page = admin.get(history_url(world))
    assert page.status_code == 200
    html = page.content.decode()
    assert "alice" in html and "customers.profile" in html and "<code>email</code>" in html
    assert not [c for c in CANARIES if c in html]
    # The history page itself reveals nothing, so it is not an entry.
    assert PersonalDataAccess.objects.count() == 1


def test_history_does_not_list_other_customers_entries(world: World) -> None:
    other = factories.track_customer(world.project, {"registered": "o@example.com"}, {})
    other_url = reverse("customers:detail", kwargs={"token": world.project.token, "pk": other.pk})
    client_for(world.admin).get(other_url)
    html = client_for(world.admin).get(history_url(world)).content.decode()
    assert "customers.profile" not in html


def test_history_needs_view_access_log(world: World) -> None:
    client_for(world.admin).get(profile_url(world))
    marketer = client_for(world.marketer)
    assert marketer.get(history_url(world)).status_code == 403
    assert history_url(world) not in marketer.get(profile_url(world)).content.decode()
    log_url = reverse("accountability:log", kwargs={"token": world.project.token})
    assert marketer.get(log_url).status_code == 403
    assert "customers.profile" in client_for(world.admin).get(log_url).content.decode()


def test_history_of_another_projects_customer_is_404(world: World) -> None:
    foreign = factories.track_customer(world.other_project, {"registered": "f@example.com"}, {})
    assert client_for(world.admin).get(history_url(world, foreign.pk)).status_code == 404
    assert client_for(world.admin).get(history_url(world, 10**9)).status_code == 404


@pytest.fixture
def log_key(world: World) -> ApiClient:
    creds = factories.make_key(
        world.project, "read_customers", "view_personal_data", "view_access_log", name="Log"
    )
    return ApiClient(str(world.project.token), creds)


def test_api_history_by_query_and_by_body(world: World, log_key: ApiClient) -> None:
    client_for(world.admin).get(profile_url(world))
    full = ApiClient(str(world.project.token), world.full_key)
    full.post(
        "customers/attributes",
        {
            "customer_ids": {"registered": "canary.x91@leak.test"},
            "attributes": [{"type": "property", "property": "email"}],
        },
    )
    url = log_key.url("customers/access-history") + f"?customer_ids={world.customer.pk}"
    assert log_key.credentials is not None
    response = log_key.client.get(url, HTTP_AUTHORIZATION=log_key.credentials.basic)
    assert response.status_code == 200, response.content
    entries = response.json()["entries"]
    assert [(e["channel"], e["view"]) for e in entries] == [
        ("api", "api.attributes"),
        ("page", "customers.profile"),
    ]
    assert entries[0]["attribute_names"] == ["email"]
    assert entries[0]["principal_type"] == "api_key"
    assert entries[1]["principal"] == "alice"
    assert entries[1]["customer_ids"] == [world.customer.pk]
    assert not [c for c in CANARIES if c in response.content.decode()]

    by_ids = log_key.post("customers/access-history", {"customer_ids": [world.customer.pk]})
    assert by_ids.json()["entries"] == entries
    by_exponea_ids = log_key.post(
        "customers/access-history", {"customer_ids": {"registered": "canary.x91@leak.test"}}
    )
    assert by_exponea_ids.status_code == 200, by_exponea_ids.content
    assert by_exponea_ids.json()["entries"] == entries


def test_api_history_needs_view_access_log(world: World) -> None:
    masked = ApiClient(str(world.project.token), world.masked_key)
    response = masked.post("customers/access-history", {"customer_ids": [world.customer.pk]})
    assert response.status_code == 403
    assert "view_access_log" in response.content.decode()


@pytest.mark.parametrize(
    "body",
    [{}, {"customer_ids": []}, {"customer_ids": ["x"]}, {"customer_ids": [1], "extra": 1}],
)
def test_api_history_refuses_bad_input(log_key: ApiClient, body: dict[str, Any]) -> None:
    response = log_key.post("customers/access-history", body)
    assert response.status_code == 400


def test_migration_grants_view_access_log_to_existing_admin_roles(world: World) -> None:
    role = Role.objects.get(project=world.project, name="Admin")
    ProjectGroupObjectPermission.objects.filter(
        group=role.group, permission__codename="view_access_log"
    ).delete()
    assert not factories.principal_of(world.admin, world.project).has(Perm.VIEW_ACCESS_LOG)
    migration = importlib.import_module("access.migrations.0002_view_access_log_permission")
    migration.grant_to_admin_roles(apps, None)
    assert factories.principal_of(world.admin, world.project).has(Perm.VIEW_ACCESS_LOG)
    assert not factories.principal_of(world.marketer, world.project).has(Perm.VIEW_ACCESS_LOG)
