"""Property-based tests (Hypothesis) of what the leak crawl cannot reach (issue 12, items 2, 5, 9).

Generated hostile input (deep, huge, Unicode, overflowing) against the filter parsers,
every customer page's query parameters as the marketer, and every API body: never a
5xx, never a canary in an error response. And anonymization removes a PII key whatever
its name, checked in the database's own bytes on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.errors import DomainError
from customers.filters import CustomerFilter, customers_matching
from customers.models import Customer, Event
from customers.services import customer_anonymize
from customers.validation import storable_text
from datamanager.services import pii_flags_set
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, World

pytestmark = pytest.mark.django_db

# Modest example counts keep the suite fast; the strategies aim at the edges instead.
FEW = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=':@%.&=!$[]"\\ \x00\u2028', max_size=20),
    st.sampled_from(
        [
            "9999-12-31",
            "0001-01-01",
            "1e309",
            "-1e309",
            "NaN",
            "9" * 400,
            "x" * 2000,
            "%00",
            "%ff%fe",
            "\udcff",
            CANARY_EMAIL,
            "plan:between:1..",
            "plan@date:gt:9999-12-31",
            "plan@number:between:1e308..1e309",
        ]
    ),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=12,
)


def deep(levels: int) -> Any:
    value: Any = CANARY_EMAIL
    for _ in range(levels):
        value = [value]
    return value


def body_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return str(response.content.decode(errors="replace"))


def no_canary(text: str, sent: str = "") -> bool:
    """No canary in ``text`` but those the caller sent itself (a page may echo its input)."""
    return not [c for c in CANARIES if c in text and c not in sent]


# Filter parsers ---------------------------------------------------------------------------


condition_keys = st.sampled_from(["attribute", "operator", "value", "value2", "type", "not", "x"])
api_filters = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "conditions": st.lists(st.dictionaries(condition_keys, json_values), max_size=3),
            "events": st.lists(
                st.dictionaries(
                    st.sampled_from(["event_type", "within_days", "done", "attribute"]),
                    json_values,
                ),
                max_size=2,
            ),
        }
    ),
)
query_keys = st.sampled_from(
    [
        "c",
        "e",
        "c0.attribute",
        "c0.operator",
        "c0.value",
        "c0.value2",
        "c0.type",
        "e0.done",
        "e0.event_type",
        "e0.within_days",
        "c1.not",
        "c9999.value",
        "sort",
        "after",
    ]
)


@FEW
@given(raw=api_filters)
def test_the_api_filter_parser_only_ever_answers_a_filter_or_a_domain_error(
    world: World, raw: Any
) -> None:
    principal = factories.principal_of(world.marketer, world.project)
    try:
        customer_filter = CustomerFilter.from_api(raw)
        list(customers_matching(principal, customer_filter).values_list("pk", flat=True)[:5])
    except DomainError as exc:
        assert exc.status_code < 500
        assert no_canary(" ".join(exc.errors)) or CANARY_EMAIL in json.dumps(raw, default=str)


@FEW
@given(pairs=st.lists(st.tuples(query_keys, hostile_text), max_size=5))
def test_the_url_and_cli_filter_parsers_only_ever_answer_a_filter_or_a_domain_error(
    world: World, pairs: list[tuple[str, str]]
) -> None:
    principal = factories.principal_of(world.admin, world.project)
    data: dict[str, list[str]] = {}
    for key, value in pairs:
        data.setdefault(key, []).append(value)
    for parse in (
        CustomerFilter.from_querydict,
        lambda d: CustomerFilter.from_querydict(d, strict=True),
    ):
        try:
            customer_filter = parse(data)
            customers_matching(principal, customer_filter).count()
        except DomainError as exc:
            assert exc.status_code < 500


well_formed = st.fixed_dictionaries(
    {
        "attribute": st.sampled_from(["plan", "city"]),
        "operator": st.sampled_from(["equals", "not_equals", "starts_with"]),
        "value": st.sampled_from(["premium", "basic", "Brat"]),
    }
)


@FEW
@given(
    condition=well_formed,
    extra_key=st.text(min_size=1, max_size=12).filter(
        lambda k: k not in {"attribute", "operator", "value", "value2", "type"}
    ),
    extra_value=json_values,
)
def test_a_malformed_condition_never_selects_more_than_the_well_formed_one(
    world: World, condition: dict[str, Any], extra_key: str, extra_value: Any
) -> None:
    """Item 5: an extra key ("not": true, a misplaced "attribute") is a 400, never wider."""
    principal = factories.principal_of(world.admin, world.project)
    wanted = set(
        customers_matching(principal, CustomerFilter.from_api({"conditions": [condition]}))
    )
    malformed = {"conditions": [{**condition, extra_key: extra_value}]}
    try:
        got = set(customers_matching(principal, CustomerFilter.from_api(malformed)))
    except DomainError as exc:
        assert exc.status_code == 400
        return
    assert got <= wanted


# Every customer page's query parameters, as the marketer ---------------------------------------


page_params = st.dictionaries(
    st.sampled_from(
        [
            "c",
            "e",
            "sort",
            "columns",
            "after",
            "before",
            "size",
            "type",
            "page",
            "partial",
            "c0.attribute",
            "c0.operator",
            "c0.value",
            "c0.type",
            "e0.event_type",
            "q",
            "tab",
        ]
    ),
    st.one_of(
        # A URL cannot carry a lone surrogate (the client cannot even encode one).
        hostile_text.filter(lambda s: not any(0xD800 <= ord(ch) <= 0xDFFF for ch in s)),
        st.just("W1tbW1tbW1tbW1tbW1tbW1tb"),  # base64 of deep JSON: a cursor
        st.just("email:equals:" + CANARY_EMAIL),
    ),
    max_size=4,
)


def marketer_pages(world: World) -> list[str]:
    base = f"/projects/{world.project.token}"
    return [
        f"{base}/customers/",
        f"{base}/customers/export.csv",
        f"{base}/customers/{world.customer.pk}/",
        f"{base}/customers/jobs/",
        f"{base}/data-manager/",
        f"{base}/",
    ]


@FEW
@given(params=page_params)
def test_every_page_survives_hostile_query_parameters_as_the_marketer(
    world: World, params: dict[str, str]
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(world.marketer)
    for url in marketer_pages(world):
        response = client.get(url, params)
        assert response.status_code < 500, (url, params)
        body = body_of(response)
        assert no_canary(body, sent=" ".join(params.values())), (url, params)


# Every API body ----------------------------------------------------------------------------------


API_ROUTES = [
    ("track", "customers"),
    ("track", "customers/events"),
    ("track", "batch"),
    ("data", "customers/export-one"),
    ("data", "customers/attributes"),
    ("data", "customers/events"),
    ("data", "customers/export"),
    ("data", "customers/anonymize"),
]
api_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "customer_ids": st.dictionaries(
                st.sampled_from(["registered", "cookie", "x"]), json_values
            )
        },
        optional={
            "properties": json_values,
            "attributes": json_values,
            "event_types": json_values,
            "filter": api_filters,
            "format": hostile_text,
            "commands": json_values,
            "limit": json_values,
            "skip": json_values,
        },
    ),
    st.just({"customer_ids": {"registered": CANARY_EMAIL}, "properties": {"x": deep(60)}}),
)


@FEW
@given(body=api_bodies, raw=st.sampled_from([None, "[" * 5000, "{", '{"a":1}x', "\x00"]))
def test_every_api_body_answers_without_5xx_or_canary_for_the_masked_key(
    world: World, body: Any, raw: str | None
) -> None:
    client = Client(raise_request_exception=False)
    payload = raw if raw is not None else json.dumps(body)
    for api, path in API_ROUTES:
        response = client.post(
            f"/{api}/v2/projects/{world.project.token}/{path}",
            data=payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=world.masked_key.basic,
        )
        assert response.status_code < 500, (path, payload[:200])
        text = body_of(response)
        if response.status_code >= 400:
            assert response.json()["success"] is False
            assert no_canary(text, sent=payload), (path, text[:300])


# Item 2: anonymization removes a PII key whatever its name -------------------------------------


hostile_names = st.one_of(
    st.text(min_size=1, max_size=24),
    st.sampled_from(["příjmení", "poznámka", 'q"t', "a\\b", "a.b", "$", "a[0]", "first name"]),
    st.text(alphabet=string.punctuation + " ščřž\u2028", min_size=1, max_size=8),
).filter(lambda s: bool(s.strip()) and storable_text(s))


def _stored_bytes(table: str, pk: int) -> str:
    """The row's JSON as the database stores it (not decoded by the ORM)."""
    cast = "properties::text" if connection.vendor == "postgresql" else "properties"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cast} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def _spellings(text: str) -> list[str]:
    """How a string can appear in stored JSON: raw, or escaped by json.dumps."""
    return [text, json.dumps(text)[1:-1]]


@FEW
@given(name=hostile_names)
def test_anonymization_removes_a_pii_key_of_any_name_from_the_stored_bytes(
    world: World, name: str
) -> None:
    value = "Secretvalue-7Q"
    project = world.project
    actor = factories.system(project)
    customer = Customer.objects.create(
        project=project, properties={name: value, "keep": "kept"}, property_timestamps={}
    )
    from datamanager.models import AttributeKind, CustomerAttribute, EventAttribute, EventType

    CustomerAttribute.objects.get_or_create(
        project=project, name=name, defaults={"kind": AttributeKind.PROPERTY}
    )
    event_type, _ = EventType.objects.get_or_create(project=project, name="visit")
    EventAttribute.objects.get_or_create(event_type=event_type, name=name)
    event = Event.objects.create(
        project=project,
        customer=customer,
        event_type=event_type,
        timestamp=world.customer.created_at,
        properties={name: value, "keep": "kept"},
    )
    pii_flags_set(
        actor=actor, customer_attributes={name: True}, event_attributes={("visit", name): True}
    )
    customer_anonymize(actor=actor, customers=[customer], source="app")
    for table, pk in (("customers_customer", customer.pk), ("customers_event", event.pk)):
        stored = _stored_bytes(table, pk)
        assert "kept" in stored
        assert not [s for s in _spellings(value) if s in stored], (name, stored)
        assert name not in json.loads(stored), (name, stored)
