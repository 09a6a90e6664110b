"""CSV export of the customer filter: masked like the page, streamed in chunks, audited."""

from __future__ import annotations

import csv
import html
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.errors import Forbidden, PiiFieldRefused
from access.models import AuditEvent
from customers.filters import CustomerFilter
from customers.models import Customer
from customers.services import customers_export_csv
from datamanager.masking import MASK

from .. import factories
from ..conftest import CANARIES, CANARY_EMAIL, World, assert_no_canary
from .demo_data import Demo, leaked, seed_demo

COLUMNS = ["email", "phone", "first_name", "last_name", "birth_date", "city", "plan"]
PII = {"registered", "cookie", "email", "phone", "first_name", "last_name", "birth_date"}


@pytest.fixture
def demo(db: Any) -> Demo:
    return seed_demo(10)


def export_url(project: Any, query: str = "") -> str:
    url = reverse("customers:export_csv", kwargs={"token": project.token})
    return url + ("?" + query if query else "")


def download(user: Any, project: Any, query: str = "", columns: list[str] = COLUMNS) -> Any:
    client = Client()
    client.force_login(user)
    client.post(reverse("customers:columns", kwargs={"token": project.token}), {"column": columns})
    return client.get(export_url(project, query))


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_marketer_csv_has_stars_for_every_pii_column(demo: Demo) -> None:
    response = download(demo.marketer, demo.project)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Cache-Control"] == "private, no-store"
    assert "attachment;" in response["Content-Disposition"]
    rows = read_csv(response)
    assert len(rows) == 10
    assert list(rows[0]) == ["internal_id", "registered", "cookie", *COLUMNS]
    for row in rows:
        for name, value in row.items():
            if name == "cookie":  # a soft ID: its list, with one mask however many it has
                assert value == f'["{MASK}"]', value
            elif name in PII:
                assert value == MASK, (name, value)
        assert row["plan"] and row["plan"] != MASK
    assert leaked(str(rows), demo.pii_values) == []


def test_admin_csv_has_the_values(demo: Demo) -> None:
    rows = read_csv(download(demo.admin, demo.project))
    assert {r["email"] for r in rows} == demo.emails
    assert {r["phone"] for r in rows} == demo.phones
    registered = {r["registered"] for r in rows}
    assert registered == demo.emails


def test_export_follows_the_filter_and_is_audited_without_values(demo: Demo) -> None:
    response = download(demo.marketer, demo.project, "c=plan:equals:premium&e=purchase")
    rows = read_csv(response)
    expected = (
        Customer.objects.filter(
            project=demo.project, properties__plan="premium", events__event_type__name="purchase"
        )
        .distinct()
        .count()
    )
    assert len(rows) == expected
    assert all(r["plan"] == "premium" for r in rows)
    audit = AuditEvent.objects.filter(action="customers.export").latest("id")
    assert audit.actor_user == demo.marketer
    assert audit.details["filter_attributes"] == ["plan"]
    assert audit.details["filter_event_types"] == ["purchase"]
    assert audit.details["row_count"] == expected
    # Every column that left, the page's ID columns included.
    assert audit.details["columns"] == ["registered", "cookie", *COLUMNS]
    assert audit.details["via"] == "page" and audit.details["format"] == "csv"
    assert "premium" not in str(audit.details)


def test_pii_filter_refused_nothing_exported_or_audited(demo: Demo) -> None:
    email = sorted(demo.emails)[0]
    before = AuditEvent.objects.filter(action="customers.export").count()
    response = download(demo.marketer, demo.project, f"c=email:equals:{email}")
    assert response.status_code == 403
    assert not response.streaming
    text = html.unescape(response.content.decode())  # what the user reads
    assert "'email' is personal data" in text
    assert AuditEvent.objects.filter(action="customers.export").count() == before
    admin = download(demo.admin, demo.project, f"c=email:equals:{email}")
    assert [r["email"] for r in read_csv(admin)] == [email]


def test_needs_the_export_permission(world: World) -> None:
    viewer = factories.make_member(world.project, "vic", roles=("Viewer",))
    client = Client()
    client.force_login(viewer)
    assert client.get(export_url(world.project)).status_code == 403
    with pytest.raises(Forbidden):
        customers_export_csv(
            actor=factories.principal_of(viewer, world.project),
            customer_filter=CustomerFilter(),
            columns=[],
        )
    list_html = client.get(
        reverse("customers:list", kwargs={"token": world.project.token})
    ).content.decode()
    assert "Export CSV" not in list_html


def test_service_streams_in_chunks_masked_for_the_canary(
    world: World, django_assert_max_num_queries: Any
) -> None:
    for i in range(7):
        factories.track_customer(
            world.project, {"registered": f"c{i}@example.com"}, {"plan": "=1+1"}
        )
    marketer = factories.principal_of(world.marketer, world.project)
    export = customers_export_csv(
        actor=marketer,
        customer_filter=CustomerFilter(),
        columns=["email", "first_name", "plan"],
        chunk_size=3,
    )
    assert export.row_count == 8
    # SQLite: 8 rows in chunks of 3, one customer and one IDs query per chunk. PostgreSQL:
    # one COPY (not a Django query at all).
    with django_assert_max_num_queries(8):
        text = b"".join(export.blocks).decode()
    assert_no_canary(text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8
    # A value a spreadsheet would run as a formula is neutralized.
    assert {r["plan"] for r in rows} == {"premium", "'=1+1"}
    admin = factories.principal_of(world.admin, world.project)
    admin_text = b"".join(
        customers_export_csv(
            actor=admin, customer_filter=CustomerFilter(), columns=["email", "first_name"]
        ).blocks
    ).decode()
    assert CANARY_EMAIL in admin_text
    assert sum(c in admin_text for c in CANARIES) >= 2


def test_service_refuses_pii_filter_for_a_masked_api_key(world: World) -> None:
    with pytest.raises(PiiFieldRefused):
        customers_export_csv(
            actor=world.masked_key.principal,
            customer_filter=CustomerFilter.from_api(
                {"conditions": [{"attribute": "phone", "operator": "exists"}]}
            ),
            columns=["plan"],
        )
    assert not AuditEvent.objects.filter(action="customers.export").exists()
