"""The customer filter page: masking, PII refusals, columns, sort, cursor pages, query counts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from access.models import AuditEvent
from customers.models import Customer, CustomerListPreference
from customers.selectors import Total, customer_total, estimated_row_count, humanize_count
from datamanager.masking import MASK

from .. import factories
from ..conftest import CANARIES, CANARY_EMAIL, World, assert_no_canary
from .demo_data import Demo, leaked, seed_demo

ALL_DEMO_COLUMNS = [
    "email",
    "phone",
    "first_name",
    "last_name",
    "birth_date",
    "city",
    "country",
    "plan",
    "newsletter",
    "lifetime_value",
]


@pytest.fixture
def demo(db: Any) -> Demo:
    return seed_demo(12)


def list_url(project: Any, query: str = "") -> str:
    return reverse("customers:list", kwargs={"token": project.token}) + (
        "?" + query if query else ""
    )


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body_cells(html: str) -> list[list[str]]:
    """The text of every cell of the list's table body, row by row."""
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", tbody, re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in rows
    ]


def choose_columns(client: Client, project: Any, columns: list[str]) -> Any:
    url = reverse("customers:columns", kwargs={"token": project.token})
    return client.post(url, {"column": columns, "next": "sort=-id"})


def test_marketer_sees_stars_for_every_pii_attribute_and_id(demo: Demo) -> None:
    client = client_for(demo.marketer)
    assert choose_columns(client, demo.project, ALL_DEMO_COLUMNS).status_code == 302
    response = client.get(list_url(demo.project))
    assert response.status_code == 200
    html = response.content.decode()
    assert leaked(html, demo.pii_values) == []
    rows = body_cells(html)
    assert len(rows) == 12
    # Columns: #, registered, cookie, then the chosen properties in order.
    header = ["#", "registered", "cookie", *ALL_DEMO_COLUMNS]
    pii = {"registered", "cookie", "email", "phone", "first_name", "last_name", "birth_date"}
    for row in rows:
        for name, text in zip(header, row, strict=True):
            if name in pii:
                assert text == MASK, (name, text)
            elif name != "#":
                assert text != MASK and text, (name, text)
    assert "Personal data is hidden" in html


def test_admin_sees_the_values(demo: Demo) -> None:
    client = client_for(demo.admin)
    choose_columns(client, demo.project, ALL_DEMO_COLUMNS)
    html = client.get(list_url(demo.project)).content.decode()
    assert demo.emails <= set(leaked(html, demo.emails))
    assert demo.phones <= set(leaked(html, demo.phones))
    assert MASK not in " ".join(" ".join(r) for r in body_cells(html))
    assert "Personal data is hidden" not in html


def test_pages_are_private_and_need_membership(demo: Demo, world: World) -> None:
    response = client_for(demo.marketer).get(list_url(demo.project))
    assert response["Cache-Control"] == "private, no-store"
    # A member of another project gets a 404 for this project's list.
    assert client_for(world.outsider).get(list_url(demo.project)).status_code == 404
    assert Client().get(list_url(demo.project)).status_code == 302  # to the login page


@pytest.mark.parametrize(
    "query",
    [
        "c=email:equals:{email}",
        "c=email:exists",
        "c=phone:starts_with:%2B421",
        "c=registered:contains:example",
        "c0.attribute=last_name&c0.operator=equals&c0.value=Novak",
        "c=plan:equals:premium&c=birth_date:gt:1990-01-01",
        "sort=email",
        "sort=-cookie",
    ],
)
def test_marketer_filter_or_sort_on_pii_is_refused_and_leaks_nothing(
    demo: Demo, query: str
) -> None:
    email = sorted(demo.emails)[0]
    query = query.replace("{email}", email.replace("@", "%40"))
    client = client_for(demo.marketer)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(list_url(demo.project, query))
    assert response.status_code == 403
    html = response.content.decode()
    assert "is personal data" in html
    assert re.search(r"'(email|phone|registered|last_name|birth_date|cookie)'", html)
    # Nothing was evaluated: no query read customers or IDs, and no count was shown.
    customer_sql = [
        q["sql"]
        for q in captured.captured_queries
        if "customers_customer" in q["sql"] or "customers_customerid" in q["sql"]
    ]
    assert customer_sql == []
    assert "customers match" not in html and " in total" not in html
    # Not even the value typed into the refused URL is echoed back.
    assert leaked(html, demo.pii_values) == []
    # The admin may run the same URL (an ID name is never sortable: several values each).
    admin_status = 400 if query == "sort=-cookie" else 200
    assert client_for(demo.admin).get(list_url(demo.project, query)).status_code == admin_status


def test_marketer_is_not_offered_pii_fields_to_filter_or_sort(demo: Demo) -> None:
    html = client_for(demo.marketer).get(list_url(demo.project)).content.decode()
    builder = html.split('id="filter-builder"', 1)[1].split("</form>", 1)[0]
    options = set(re.findall(r'<option value="([^"]+)" data-type', builder))
    assert {"city", "plan", "lifetime_value"} <= options
    assert not options & {"email", "phone", "first_name", "registered", "cookie", "birth_date"}
    assert "sort=email" not in html and "sort=phone" not in html
    admin_html = client_for(demo.admin).get(list_url(demo.project)).content.decode()
    admin_builder = admin_html.split('id="filter-builder"', 1)[1].split("</form>", 1)[0]
    assert {"email", "registered"} <= set(
        re.findall(r'<option value="([^"]+)" data-type', admin_builder)
    )
    assert "sort=email" in admin_html


def test_filter_in_the_url_and_the_form_give_the_same_rows(demo: Demo) -> None:
    client = client_for(demo.marketer)
    expected = Customer.objects.filter(project=demo.project, properties__plan="premium").count()
    for query in (
        "c=plan:equals:premium",
        "c0.attribute=plan&c0.operator=equals&c0.value=premium&c1.attribute=&e0.event_type=",
    ):
        html = client.get(list_url(demo.project, query)).content.decode()
        assert len(body_cells(html)) == max(expected, 1 if expected == 0 else expected)
        assert f">{expected:,}</strong> customers match" in html
    # Event condition and a numeric comparison.
    html = client.get(list_url(demo.project, "e=purchase&c=lifetime_value:gt:0")).content.decode()
    with_purchase = Customer.objects.filter(
        project=demo.project, events__event_type__name="purchase"
    ).distinct()
    assert len(body_cells(html)) == with_purchase.count()


def test_bad_filter_is_a_clear_400(demo: Demo) -> None:
    response = client_for(demo.marketer).get(list_url(demo.project, "c=plan:likes:x"))
    assert response.status_code == 400
    assert "unknown operator" in response.content.decode()
    response = client_for(demo.marketer).get(list_url(demo.project, "after=garbage!"))
    assert response.status_code == 400


def test_sort_by_a_column_and_walk_cursor_pages_both_ways(db: Any) -> None:
    demo = seed_demo(60)
    client = client_for(demo.marketer)
    values = dict(
        Customer.objects.filter(project=demo.project).values_list(
            "pk", "properties__lifetime_value"
        )
    )
    expected = sorted(values, key=lambda pk: (-values[pk], -pk))
    seen: list[int] = []
    pages: list[str] = []
    url: str | None = list_url(demo.project, "sort=-lifetime_value")
    while url:
        html = client.get(url).content.decode()
        pages.append(url)
        seen += [int(r[0].lstrip("#").split()[0]) for r in body_cells(html)]
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen == expected
    assert len(pages) == 3
    # Back from the last page: the previous page is the second one.
    html = client.get(pages[-1]).content.decode()
    prev = re.search(r'href="([^"]+)" rel="prev"', html)
    assert prev is not None
    html = client.get(prev.group(1).replace("&amp;", "&")).content.decode()
    assert [int(r[0].lstrip("#").split()[0]) for r in body_cells(html)] == expected[25:50]


def test_sort_by_string_with_missing_values_last(world: World) -> None:
    p = world.project
    for i, city in enumerate(["Brno", None, "Athens", "Zilina", None]):
        props = {"plan": "x"} if city is None else {"city": city}
        factories.track_customer(p, {"registered": f"s{i}@example.com"}, props)
    client = client_for(world.marketer)
    html = client.get(list_url(p, "sort=city&size=25")).content.decode()
    assert "sort=-city" in html  # the header now offers the other direction


def test_query_count_does_not_grow_with_rows_or_columns(
    db: Any, django_assert_max_num_queries: Any
) -> None:
    demo = seed_demo(30)
    client = client_for(demo.admin)
    counts = []
    for size, columns in ((25, ["city"]), (100, ALL_DEMO_COLUMNS)):
        choose_columns(client, demo.project, columns)
        cache.clear()  # with Redis the PII catalog is cached: measure both pages cold
        with CaptureQueriesContext(connection) as captured:
            response = client.get(list_url(demo.project, f"size={size}&c=plan:exists&e=purchase"))
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(18):
        client.get(list_url(demo.project, "size=100&sort=city"))


def test_column_choice_is_remembered_per_user(demo: Demo) -> None:
    client = client_for(demo.marketer)
    response = choose_columns(client, demo.project, ["plan", "city", "registered"])
    assert response.status_code == 302
    assert response["Location"].endswith("?sort=-id")
    pref = CustomerListPreference.objects.get(project=demo.project, user=demo.marketer)
    assert pref.columns == ["plan", "city"]  # ID columns are always shown
    assert not CustomerListPreference.objects.filter(user=demo.admin).exists()
    html = client.get(list_url(demo.project)).content.decode()
    assert len(body_cells(html)[0]) == 1 + 2 + 2
    assert AuditEvent.objects.filter(action="customer_list.columns").exists()
    # An unknown column is refused and nothing changes.
    bad = choose_columns(client, demo.project, ["plan", "no_such_column"])
    assert bad.status_code == 400
    pref.refresh_from_db()
    assert pref.columns == ["plan", "city"]


def test_bulk_selection_form_only_for_principals_who_may_anonymize(demo: Demo) -> None:
    marketer_html = client_for(demo.marketer).get(list_url(demo.project)).content.decode()
    assert 'name="customer"' not in marketer_html
    admin_html = (
        client_for(demo.admin).get(list_url(demo.project, "c=plan:equals:premium")).content.decode()
    )
    try:
        bulk = reverse("customers:anonymize_bulk", kwargs={"token": demo.project.token})
    except NoReverseMatch:
        assert 'name="customer"' not in admin_html
        return
    assert f'action="{bulk}"' in admin_html
    assert 'name="filter" value="c=plan:equals:premium"' in admin_html
    assert 'name="all_matching"' in admin_html
    ids = re.findall(r'name="customer" value="(\d+)"', admin_html)
    premium = Customer.objects.filter(project=demo.project, properties__plan="premium")
    assert sorted(map(int, ids)) == sorted(premium.values_list("pk", flat=True))


def test_canary_customer_masked_in_list_for_marketer_only(world: World) -> None:
    marketer_html = client_for(world.marketer).get(list_url(world.project)).content.decode()
    assert_no_canary(marketer_html)
    admin_html = client_for(world.admin).get(list_url(world.project)).content.decode()
    assert CANARY_EMAIL in admin_html
    assert any(c in admin_html for c in CANARIES)


def test_total_is_exact_when_cheap_and_estimated_when_not(world: World) -> None:
    qs = Customer.objects.filter(project=world.project)
    assert customer_total(qs) == Total(value=1, exact=True)
    estimate = estimated_row_count(qs)
    if connection.vendor == "postgresql":
        assert estimate is not None and estimate >= 1
        approx = customer_total(qs, limit=0)
        assert not approx.exact and approx.label.startswith("about ")
    else:
        assert estimate is None
        assert customer_total(qs, limit=0).exact
    assert humanize_count(1_234_567) == "1.2 M"
    assert humanize_count(2_000) == "2 K"
    assert humanize_count(999) == "999"
    assert Total(value=1_200_000, exact=False).label == "about 1.2 M"


def test_empty_result_spans_the_whole_table(demo: Demo) -> None:
    html = (
        client_for(demo.marketer)
        .get(list_url(demo.project, "c=plan:equals:nobody"))
        .content.decode()
    )
    assert "No customers match this filter." in html
    assert '<td colspan="9" class="empty">' in html  # #, 2 IDs, 6 default columns
    assert ">0</strong> customers match" in html
