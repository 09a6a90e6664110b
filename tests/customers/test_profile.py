"""The customer profile: masked IDs, attributes and event properties; timeline; 404s; queries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer, Event
from customers.services import events_track_many
from datamanager.masking import MASK

from .. import factories
from ..conftest import CANARY_ADDRESS, CANARY_EMAIL, CANARY_IP, World, assert_no_canary
from .demo_data import Demo, leaked, seed_demo


@pytest.fixture
def demo(db: Any) -> Demo:
    return seed_demo(8)


def detail_url(customer: Customer, query: str = "") -> str:
    url = reverse("customers:detail", kwargs={"token": customer.project.token, "pk": customer.pk})
    return url + ("?" + query if query else "")


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def kv_pairs(html: str) -> list[tuple[str, str]]:
    """(name, value) of every definition list entry and attribute table row, tags stripped."""

    def strip(s: str) -> str:
        return re.sub(r"<[^>]+>", "", s).strip()

    pairs = [
        (strip(k), strip(v))
        for k, v in re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", html, re.S)
    ]
    table = html.split('class="card cu-attributes"', 1)[1].split("</table>", 1)[0]
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        pairs.append((strip(cells[0]).replace("PII", "").strip(), strip(cells[1])))
    return pairs


def test_marketer_sees_stars_for_pii_attributes_ids_and_event_properties(demo: Demo) -> None:
    client = client_for(demo.marketer)
    for customer in Customer.objects.filter(project=demo.project):
        response = client.get(detail_url(customer))
        assert response.status_code == 200
        html = response.content.decode()
        assert leaked(html, demo.pii_values) == []
        pairs = kv_pairs(html)
        names = {n for n, _ in pairs}
        assert {"registered", "cookie", "email", "phone", "plan", "city"} <= names
        for name, value in pairs:
            if name in {
                "registered",
                "cookie",
                "email",
                "phone",
                "first_name",
                "last_name",
                "birth_date",
                "ip",
                "shipping_address",
                "card_last4",
            }:
                assert value == MASK, (name, value)
        assert ("plan", customer.properties["plan"]) in pairs
        assert ("city", customer.properties["city"]) in pairs


def test_admin_sees_the_values(demo: Demo) -> None:
    client = client_for(demo.admin)
    html = "".join(
        client.get(detail_url(c)).content.decode()
        for c in Customer.objects.filter(project=demo.project)
    )
    assert set(leaked(html, demo.emails)) == demo.emails
    assert set(leaked(html, demo.phones)) == demo.phones


def test_canary_event_properties_masked_per_event_attribute(world: World) -> None:
    marketer_html = client_for(world.marketer).get(detail_url(world.customer)).content.decode()
    assert_no_canary(marketer_html)
    pairs = kv_pairs(marketer_html)
    assert ("ip", MASK) in pairs and ("shipping_address", MASK) in pairs
    assert ("url", "https://shop.example.com/sale") in pairs  # not PII: shown
    assert ("total", "42.5") in pairs
    admin_html = client_for(world.admin).get(detail_url(world.customer)).content.decode()
    for canary in (CANARY_EMAIL, CANARY_IP, CANARY_ADDRESS):
        assert canary in admin_html


def test_private_cache_and_404_for_other_projects(world: World) -> None:
    response = client_for(world.marketer).get(detail_url(world.customer))
    assert response["Cache-Control"] == "private, no-store"
    other = factories.track_customer(world.other_project, {"registered": "o@example.com"}, {})
    # Another project's customer under this project's token: 404, not 403.
    url = reverse("customers:detail", kwargs={"token": world.project.token, "pk": other.pk})
    assert client_for(world.admin).get(url).status_code == 404
    assert client_for(world.outsider).get(detail_url(world.customer)).status_code == 404
    missing = reverse("customers:detail", kwargs={"token": world.project.token, "pk": 999999})
    assert client_for(world.admin).get(missing).status_code == 404


def test_timeline_newest_first_filtered_and_paginated(world: World) -> None:
    base = timezone.now().timestamp() - 10_000
    events_track_many(
        actor=factories.system(world.project),
        customer=world.customer,
        events=[("page_visit", base + i, {"url": f"https://x.test/{i}"}) for i in range(45)],
    )
    client = client_for(world.admin)
    html = client.get(detail_url(world.customer)).content.decode()
    times = re.findall(r'<time datetime="([^"]+)"', html)
    assert len(times) == 20 and times == sorted(times, reverse=True)
    assert "https://x.test/44" in html  # the newest
    older = re.search(r'href="([^"]+)" rel="next"', html)
    assert older is not None
    html2 = client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert "https://x.test/24" in html2 and "https://x.test/44" not in html2
    # Filter by type: only purchases (the canary customer has one).
    html3 = client.get(detail_url(world.customer, "type=purchase")).content.decode()
    assert re.findall(r'badge badge-role cu-type">([^<]+)<', html3) == ["purchase"]
    counts = dict(
        re.findall(
            r'type=([a-z_]+)#timeline" class="chip[^"]*">[a-z_]+ <span class="muted">(\d+)', html
        )
    )
    assert counts == {"page_visit": "46", "purchase": "1"}
    bad = client.get(detail_url(world.customer, "before=nonsense"))
    assert bad.status_code == 400


def test_anonymized_state_is_shown(world: World) -> None:
    Customer.objects.filter(pk=world.customer.pk).update(anonymized_at=timezone.now())
    html = client_for(world.marketer).get(detail_url(world.customer)).content.decode()
    assert "Anonymized" in html and "was <strong>anonymized</strong>" in html


def test_context_for_the_anonymize_button(world: World) -> None:
    response = client_for(world.admin).get(detail_url(world.customer))
    assert response.context["customer"].pk == world.customer.pk
    assert response.context["project"] == world.project
    assert response.context["principal"].user == world.admin
    assert "customers/_anonymize_button.html" in [t.name for t in response.templates]


def test_query_count_does_not_grow_with_events_or_attributes(
    world: World, django_assert_max_num_queries: Any
) -> None:
    client = client_for(world.admin)
    client.get(detail_url(world.customer))  # warm up the session
    with CaptureQueriesContext(connection) as before:
        client.get(detail_url(world.customer))
    events_track_many(
        actor=factories.system(world.project),
        customer=world.customer,
        events=[
            ("purchase", 1_700_000_100 + i, {"total": i, "shipping_address": "x", f"k{i}": i})
            for i in range(40)
        ],
    )
    factories.track_customer(
        world.project,
        {"registered": CANARY_EMAIL},
        {f"extra_{i}": i for i in range(30)},
    )
    with CaptureQueriesContext(connection) as after:
        client.get(detail_url(world.customer))
    assert len(after.captured_queries) == len(before.captured_queries)
    # 16 + the legal-hold / erasure-receipt panel's one query (issue 17).
    with django_assert_max_num_queries(17):
        client.get(detail_url(world.customer, "type=purchase"))
    assert Event.objects.filter(customer=world.customer).count() == 42


def test_a_nul_in_the_event_type_filter_is_a_400_not_a_500(world: Any) -> None:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(world.marketer)
    url = reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )
    response = client.get(url, {"type": "\x00"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
