"""The personal-data access log: one entry per request that showed PII, names only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accountability.models import PersonalDataAccess
from customers.models import Customer
from datamanager.services import pii_flags_set

from .. import factories
from ..api.conftest import ApiClient, body_text
from ..conftest import CANARIES, World

PROFILE_PII = ["cookie", "email", "first_name", "phone", "registered"]
EVENT_PII = ["page_visit.ip", "purchase.shipping_address"]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def entries() -> list[PersonalDataAccess]:
    return list(PersonalDataAccess.objects.order_by("id"))


def assert_no_value_stored(entry: PersonalDataAccess) -> None:
    stored = json.dumps(
        [entry.customer_ids, entry.attribute_names, entry.filter, entry.reason, entry.view]
    )
    assert not [c for c in CANARIES if c in stored]


def profile_url(world: World) -> str:
    return reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )


def list_url(world: World, query: str = "") -> str:
    url = reverse("customers:list", kwargs={"token": world.project.token})
    return url + ("?" + query if query else "")


def test_profile_writes_one_entry_naming_every_revealed_attribute(world: World) -> None:
    response = client_for(world.admin).get(profile_url(world))
    assert response.status_code == 200
    assert "canary.x91@leak.test" in response.content.decode()
    [entry] = entries()
    assert entry.project_id == world.project.pk
    assert entry.actor_user_id == world.admin.pk
    assert entry.actor_api_key_id is None
    assert entry.actor_label == "alice"
    assert (entry.channel, entry.view) == ("page", "customers.profile")
    assert entry.customer_ids == [world.customer.pk]
    assert entry.customer_count == 1
    assert entry.attribute_names == sorted(PROFILE_PII + EVENT_PII)
    assert_no_value_stored(entry)


def test_profile_entry_is_one_insert(world: World) -> None:
    client = client_for(world.admin)
    with CaptureQueriesContext(connection) as queries:
        client.get(profile_url(world))
    inserts = [q["sql"] for q in queries if "accountability_personaldataaccess" in q["sql"]]
    assert len(inserts) == 1 and inserts[0].upper().startswith("INSERT")


def test_list_writes_one_entry_with_the_page_customers_and_pii_columns(world: World) -> None:
    factories.track_customer(world.project, {"registered": "second@example.com"}, {"city": "X"})
    response = client_for(world.admin).get(list_url(world))
    assert response.status_code == 200
    [entry] = entries()
    assert (entry.channel, entry.view) == ("page", "customers.list")
    assert entry.customer_ids == sorted(Customer.objects.values_list("pk", flat=True))
    # The default columns: email and first_name are PII, city / plan are not.
    assert entry.attribute_names == ["cookie", "email", "first_name", "registered"]
    assert_no_value_stored(entry)


def test_list_without_pii_in_view_writes_nothing(world: World) -> None:
    # Nobody matches: no row was rendered, so nothing was revealed.
    response = client_for(world.admin).get(list_url(world, "c=city:equals:Nowhere"))
    assert response.status_code == 200
    assert entries() == []


@pytest.mark.parametrize("path", ["profile", "list", "export"])
def test_views_without_personal_data_write_nothing(world: World, path: str) -> None:
    client = client_for(world.marketer)
    url = {
        "profile": profile_url(world),
        "list": list_url(world),
        "export": reverse("customers:export_csv", kwargs={"token": world.project.token}),
    }[path]
    response = client.get(url)
    assert response.status_code == 200
    assert "******" in body_text(response)
    assert entries() == []


def test_csv_export_writes_one_entry_with_filter_names_count_and_export_id(world: World) -> None:
    url = reverse("customers:export_csv", kwargs={"token": world.project.token})
    response = client_for(world.admin).get(url + "?c=email:equals:canary.x91@leak.test")
    text = body_text(response)
    assert "canary.x91@leak.test" in text
    [entry] = entries()
    assert (entry.channel, entry.view) == ("export", "customers.export_csv")
    assert entry.customer_ids == [world.customer.pk]
    assert entry.customer_count == 1
    assert entry.export_id is not None
    assert entry.filter == {"attributes": ["email"], "event_types": []}
    assert entry.attribute_names == ["cookie", "email", "first_name", "registered"]
    assert_no_value_stored(entry)  # the filter's value (an e-mail) is not kept


def test_large_export_records_filter_and_count_instead_of_ids(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("accountability.services.EXPORT_IDS_LIMIT", 1)
    factories.track_customer(world.project, {"registered": "b@example.com"}, {"email": "b@x"})
    url = reverse("customers:export_csv", kwargs={"token": world.project.token})
    body_text(client_for(world.admin).get(url))
    [entry] = entries()
    assert entry.customer_ids == []
    assert entry.customer_count == 2
    assert entry.export_id is not None


API_CALLS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("export-one", {}, PROFILE_PII + EVENT_PII),
    (
        "attributes",
        {
            "attributes": [
                {"type": "property", "property": "email"},
                {"type": "property", "property": "city"},
                {"type": "id", "id": "registered"},
            ]
        },
        ["email", "registered"],
    ),
    ("events", {"event_types": ["page_visit"]}, ["page_visit.ip"]),
]


@pytest.mark.parametrize(("path", "extra", "names"), API_CALLS, ids=[c[0] for c in API_CALLS])
def test_api_reads_write_one_entry_each(
    world: World, path: str, extra: dict[str, Any], names: list[str]
) -> None:
    api = ApiClient(str(world.project.token), world.full_key)
    body = {"customer_ids": {"registered": "canary.x91@leak.test"}, **extra}
    response = api.post(f"customers/{path}", body)
    assert response.status_code == 200, response.content
    assert any(c in body_text(response) for c in CANARIES)
    [entry] = entries()
    assert (entry.channel, entry.view) == ("api", f"api.{path}")
    assert entry.actor_api_key_id == world.full_key.key.pk
    assert entry.actor_user_id is None
    assert entry.customer_ids == [world.customer.pk]
    assert entry.attribute_names == sorted(names)
    assert_no_value_stored(entry)


def test_api_export_writes_one_entry(world: World) -> None:
    api = ApiClient(str(world.project.token), world.full_key)
    response = api.post("customers/export", {"format": "csv"})
    assert "canary.x91@leak.test" in body_text(response)
    [entry] = entries()
    assert (entry.channel, entry.view) == ("api", "api.export")
    assert entry.customer_ids == [world.customer.pk]
    assert entry.customer_count == 1
    assert entry.export_id is not None
    assert entry.attribute_names == ["cookie", "email", "first_name", "phone", "registered"]


@pytest.mark.parametrize("path", ["export-one", "attributes", "events", "export"])
def test_api_reads_by_a_masked_key_write_nothing(world: World, path: str) -> None:
    # A key without Personal data may not look customers up by a PII ID: use the cookie.
    pii_flags_set(actor=factories.system(world.project), customer_attributes={"cookie": False})
    api = ApiClient(str(world.project.token), world.masked_key)
    extra = {p: e for p, e, _ in API_CALLS}.get(path, {})
    body = {"customer_ids": {"cookie": "ck-canary-1"}, **extra}
    response = api.post(f"customers/{path}", {} if path == "export" else body)
    assert response.status_code == 200
    assert "******" in body_text(response)
    assert entries() == []


def test_entries_are_append_only(world: World) -> None:
    client_for(world.admin).get(profile_url(world))
    [entry] = entries()
    entry.reason = "changed"
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()
