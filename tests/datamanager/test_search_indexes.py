"""Searchable properties (issue 14 item 3): the flag's service, the background index, and
that the customer filter's SQL actually uses the indexes (EXPLAIN, PostgreSQL).

On SQLite the flag is kept and nothing is built; the filter's results are the same on
both databases (tests/customers/test_filters.py, and the escaping cases here).
"""

from __future__ import annotations

import hashlib
import importlib
from typing import Any

import pytest
from django.db import connection

from access.errors import Forbidden, InvalidInput, NotFound, PiiFieldRefused
from access.models import AuditEvent
from customers.filters import CustomerFilter, customers_matching
from customers.filters.search import EXPRESSION_INDEXED
from customers.models import Customer
from datamanager.models import CustomerAttribute, SearchIndexState
from datamanager.search_indexes import (
    index_name,
    search_index_cost,
    search_index_status,
    search_index_sync,
    searchable_set,
)

from .. import factories
from ..conftest import CANARY_EMAIL, World

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the indexes exist on PostgreSQL only"
)


def _admin(world: World) -> Any:
    return factories.principal_of(world.admin, world.project)


def _attribute(world: World, name: str) -> CustomerAttribute:
    return CustomerAttribute.objects.get(project=world.project, name=name)


# The flag's service ------------------------------------------------------------------------


def test_searchable_set_writes_the_flag_and_one_audit_event(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        attribute = searchable_set(actor=_admin(world), name="city", searchable=True)
    assert attribute.searchable
    events = AuditEvent.objects.filter(project=world.project, action="datamanager.searchable")
    assert [(e.target_id, e.details) for e in events] == [
        (str(attribute.pk), {"attribute": "city", "old": False, "new": True})
    ]
    assert events[0].actor_user == world.admin
    if connection.vendor == "postgresql":
        # The build is queued after commit, never inside the request's transaction.
        assert attribute.search_index_state == SearchIndexState.QUEUED
        assert len(callbacks) == 1
    else:
        assert attribute.search_index_state == SearchIndexState.NONE
        assert callbacks == []
    # The same value again changes nothing and audits nothing.
    searchable_set(actor=_admin(world), name="city", searchable=True)
    assert events.count() == 1


def test_searchable_set_needs_the_data_manager_permission(world: World) -> None:
    marketer = factories.principal_of(world.marketer, world.project)
    with pytest.raises(Forbidden):
        searchable_set(actor=marketer, name="city", searchable=True)
    assert not _attribute(world, "city").searchable
    assert not AuditEvent.objects.filter(action="datamanager.searchable").exists()


@pytest.mark.parametrize(
    ("name", "error"),
    [("registered", InvalidInput), ("no_such_property", NotFound), ("ltv", InvalidInput)],
)
def test_searchable_set_refuses_ids_unknown_names_and_non_text(
    world: World, name: str, error: type[Exception]
) -> None:
    factories.track_customer(world.project, {"registered": "n@example.com"}, {"ltv": 5})
    CustomerAttribute.objects.filter(project=world.project, name="ltv").update(type="number")
    with pytest.raises(error) as info:
        searchable_set(actor=_admin(world), name=name, searchable=True)
    assert getattr(info.value, "status_code", 400) in (400, 404)
    assert not CustomerAttribute.objects.filter(project=world.project, searchable=True).exists()
    assert not AuditEvent.objects.filter(action="datamanager.searchable").exists()


def test_another_projects_attribute_is_not_found(world: World) -> None:
    factories.track_customer(world.other_project, {"registered": "x@example.com"}, {"zone": "a"})
    with pytest.raises(NotFound):
        searchable_set(actor=_admin(world), name="zone", searchable=True)


def test_searchable_does_not_let_a_restricted_principal_filter_on_pii(world: World) -> None:
    searchable_set(actor=_admin(world), name="email", searchable=True)
    marketer = factories.principal_of(world.marketer, world.project)
    for text in (
        f"c=email:equals:{CANARY_EMAIL}",
        "c=email:contains:canary",
        "c=email:starts_with:can",
    ):
        with pytest.raises(PiiFieldRefused) as info:
            customers_matching(marketer, CustomerFilter.from_string(text))
        assert CANARY_EMAIL not in info.value.message
        # The admin (Personal data) still finds the customer.
        found = customers_matching(_admin(world), CustomerFilter.from_string(text))
        assert list(found.values_list("pk", flat=True)) == [world.customer.pk]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("c=city:contains:100%25", {"pct"}),  # % and _ are literal, not wildcards
        ("c=city:contains:a_b", {"under"}),
        ("c=city:starts_with:100", {"pct"}),
        ("c=city:contains:BRATIS", {"canary"}),  # case-insensitive
        ("c=city:equals:Bratislava", {"canary"}),
        ("c=city:equals:bratislava", set()),  # equality is exact
        ("c=city:contains:back\\slash", {"backslash"}),
    ],
)
def test_contains_and_prefix_escape_wildcards_on_both_databases(
    world: World, text: str, expected: set[str]
) -> None:
    made = {
        "pct": factories.track_customer(world.project, {"cookie": "c1"}, {"city": "100% Town"}),
        "under": factories.track_customer(world.project, {"cookie": "c2"}, {"city": "a_b"}),
        "other": factories.track_customer(world.project, {"cookie": "c3"}, {"city": "axb 1000"}),
        "backslash": factories.track_customer(
            world.project, {"cookie": "c4"}, {"city": "back\\slash"}
        ),
        "canary": world.customer,
    }
    by_pk = {c.pk: name for name, c in made.items()}
    pks = customers_matching(_admin(world), CustomerFilter.from_string(text)).values_list(
        "pk", flat=True
    )
    assert {by_pk[pk] for pk in pks} == expected


def test_cost_is_quoted_in_words() -> None:
    assert search_index_cost(1_000_000) == {"size": "about 59 MB", "build": "about 27 s"}
    assert search_index_cost(100)["size"] == "under 1 MB"


def test_expression_indexed_names_match_the_migration() -> None:
    migration = importlib.import_module("customers.migrations.0002_pg_customer_filter_indexes")
    assert {key for _, key, _, _ in migration.PROPERTY_INDEXES} == EXPRESSION_INDEXED


def test_status_on_sqlite_needs_no_query(world: World, django_assert_num_queries: Any) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's plain path")
    searchable_set(actor=_admin(world), name="city", searchable=True)
    attribute = _attribute(world, "city")
    with django_assert_num_queries(0):
        status = search_index_status([attribute])
    assert status[attribute.pk].state == SearchIndexState.NONE
    assert search_index_sync(attribute_id=attribute.pk) == SearchIndexState.NONE


# PostgreSQL: the index is built, reported, used and dropped ----------------------------------


def _email(i: int) -> str:
    return f"{hashlib.md5(str(i).encode()).hexdigest()[:10]}.person{i}@example.com"  # noqa: S324


def _seed(world: World, n: int = 3000) -> None:
    Customer.objects.bulk_create(
        Customer(project=world.project, properties={"email": _email(i), "city": f"City {i % 50}"})
        for i in range(n)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")


def _plan(queryset: Any) -> str:
    """The plan of ``queryset`` with sequential scans priced out, so a tiny table shows
    which indexes its SQL *can* use (at 1 M customers the planner picks them by itself:
    bench/at_scale/search.py checks the same plans there)."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            return str(queryset.explain())
        finally:
            cursor.execute("RESET enable_seqscan")


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_equality_on_any_property_uses_the_gin_index(world: World) -> None:
    _seed(world)
    rows = customers_matching(
        _admin(world), CustomerFilter.from_string(f"c=email:equals:{_email(7)}")
    )
    assert "customer_properties_path_ops" in _plan(rows)
    assert rows.count() == 1


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_searchable_property_gets_a_trigram_index_that_contains_and_prefix_use(
    world: World,
) -> None:
    _seed(world)
    attribute = searchable_set(actor=_admin(world), name="email", searchable=True)
    # Eager Celery (no broker in tests) built it after the commit.
    attribute.refresh_from_db()
    assert attribute.search_index_state == SearchIndexState.READY
    name = index_name(attribute.pk)
    status = search_index_status([attribute])[attribute.pk]
    assert status.size_bytes and status.size_bytes > 0
    assert status.label == "Ready"
    admin = _admin(world)
    emails = [_email(i) for i in range(3000)]
    prefix = emails[7][:8].upper()
    for text, count in (
        # Hex parts: rare trigrams, so the index is the cheapest plan even on a tiny table
        # ("son2999@" shares "son" with every address, and a loaded planner took a scan).
        (f"c=email:contains:{emails[2999][2:9]}", sum(emails[2999][2:9] in e for e in emails)),
        (f"c=email:starts_with:{prefix}", sum(e.upper().startswith(prefix) for e in emails)),
    ):
        rows = customers_matching(admin, CustomerFilter.from_string(text))
        assert name in _plan(rows), text
        assert rows.count() == count, text
    # A restricted principal is refused before any of it runs.
    with pytest.raises(PiiFieldRefused):
        customers_matching(
            factories.principal_of(world.marketer, world.project),
            CustomerFilter.from_string("c=email:contains:son7"),
        )
    # Unmarking drops it (and its statistics).
    searchable_set(actor=admin, name="email", searchable=False)
    attribute.refresh_from_db()
    assert attribute.search_index_state == SearchIndexState.NONE
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relname = %s UNION ALL "
            "SELECT count(*) FROM pg_statistic_ext WHERE stxname = %s",
            [name, f"{name}_stats"],
        )
        assert [r[0] for r in cursor.fetchall()] == [0, 0]


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_an_invalid_leftover_index_is_rebuilt(world: World) -> None:
    """A concurrent build that died leaves an invalid index; the next sync replaces it."""
    _seed(world, 20)
    attribute = _attribute(world, "email")
    CustomerAttribute.objects.filter(pk=attribute.pk).update(searchable=True)
    name = index_name(attribute.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {name} ON customers_customer (id)")
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [name]
        )
    assert search_index_sync(attribute_id=attribute.pk) == SearchIndexState.READY
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indexrelid = %s::regclass",
            [name],
        )
        valid, definition = cursor.fetchone()
    assert valid
    assert "gin_trgm_ops" in definition
    assert f"project_id = {world.project.pk}" in definition
    searchable_set(actor=_admin(world), name="email", searchable=True)  # no change, no-op
    CustomerAttribute.objects.filter(pk=attribute.pk).update(searchable=False)
    assert search_index_sync(attribute_id=attribute.pk) == SearchIndexState.NONE
