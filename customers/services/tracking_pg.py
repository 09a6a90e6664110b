"""PostgreSQL statements for the batch tracking path: array parameters, one round trip each.

The ORM's ``bulk_create`` costs about as much Python per row as the rest of a request
(model instances, per-field preparation, client-side quoting of every value). Here each
statement has a fixed text with array parameters, bound server-side (and prepared by
psycopg once it has run a few times) and sent in binary (``%b``: psycopg's text form of an
array escapes every element with a regular expression, 2-3 ms of CPU for a batch's 50
JSON texts), so a batch of 50 events costs a handful of round
trips and little Python. Rows go in with ``INSERT ... SELECT FROM unnest(...)``: one round
trip, where ``COPY`` needs two (the server's copy-in answer, then the data) and held the
GIL while libpq flushed the data. Customers are locked as light rows (id, anonymized_at,
and properties only for those the batch updates): an events-only batch decodes no jsonb.
Used only on PostgreSQL; other databases take the ORM path in
:mod:`customers.services.tracking_batch`. Errors are translated to Django's (an
``IntegrityError`` from a concurrent insert is retried by the caller).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from django.db import connection
from django.utils import timezone

from datamanager.models import AttributeKind, CustomerAttribute

from ..models import Customer, CustomerId, Event, SuppressedIdentity


class NewCustomerRow(Protocol):
    properties: dict[str, Any]
    property_timestamps: dict[str, Any]
    pk: int | None


class ChangedCustomerRow(Protocol):
    pk: Any
    properties: dict[str, Any]
    property_timestamps: dict[str, Any]


CUSTOMER = Customer._meta.db_table
CUSTOMER_ID = CustomerId._meta.db_table
EVENT = Event._meta.db_table
ATTRIBUTE = CustomerAttribute._meta.db_table
SUPPRESSED = SuppressedIdentity._meta.db_table


@dataclass
class LockedCustomer:
    """A customer locked by this transaction, as much of it as the batch needs.

    ``properties`` and ``property_timestamps`` are None unless asked for: a customer that
    only gets events needs neither.
    """

    pk: int
    anonymized_at: datetime | None
    properties: dict[str, Any] | None
    property_timestamps: dict[str, Any] | None


@contextmanager
def _cursor() -> Iterator[psycopg.Cursor[Any]]:
    """A server-side-binding cursor on Django's connection, inside Django's transaction."""
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        yield cursor


def match(project_id: int, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Existing ``(name, value)`` pairs of the project, mapped to their customer id."""
    if not keys:
        return {}
    sql, params = _match_sql(project_id, keys)
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return {(name, value): customer_id for name, value, customer_id in cursor}


def _match_sql(project_id: int, keys: Sequence[tuple[str, str]]) -> tuple[str, list[Any]]:
    by_name: dict[str, list[str]] = {}
    for name, value in keys:
        by_name.setdefault(name, []).append(value)
    # One `name = .. AND value = ANY(..)` per ID name: index scans on the unique
    # (project, name, value) index whatever the table size. (A join with unnest() gets a
    # generic plan that hashes the whole ID table once the statement is prepared.)
    condition = " OR ".join(["(name = %s AND value = ANY(%b::text[]))"] * len(by_name))
    params: list[Any] = [project_id]
    for name, values in by_name.items():
        params.extend([name, values])
    sql = (
        f'SELECT name, value, customer_id FROM "{CUSTOMER_ID}" '  # noqa: S608
        f"WHERE project_id = %s AND ({condition})"
    )
    return sql, params


def match_unsuppressed(
    project_id: int, keys: Sequence[tuple[str, str]], hashes: Sequence[str]
) -> tuple[dict[tuple[str, str], int], bool]:
    """:func:`match`, and whether any of these hard-ID hashes is suppressed, in one
    statement (one snapshot: the batch's re-check once its customers are locked)."""
    if not hashes:
        return match(project_id, keys), False
    sql, params = _match_sql(project_id, keys)
    with _cursor() as cursor:
        cursor.execute(
            f"{sql} UNION ALL SELECT NULL, value_hash, NULL "  # noqa: S608
            f'FROM "{SUPPRESSED}" WHERE project_id = %s AND value_hash = ANY(%b::text[])',
            [*params, project_id, list(hashes)],
        )
        owners: dict[tuple[str, str], int] = {}
        suppressed = False
        for name, value, customer_id in cursor:
            if name is None:
                suppressed = True
            else:
                owners[(name, value)] = customer_id
        return owners, suppressed


def suppressed_among(project_id: int, hashes: Sequence[str]) -> set[str]:
    """The suppressed ones of these hard-ID hashes (bound server-side as one binary array:
    Django's client-side binding quoted each of a batch's hashes in Python)."""
    with _cursor() as cursor:
        cursor.execute(
            f'SELECT value_hash FROM "{SUPPRESSED}" '  # noqa: S608
            "WHERE project_id = %s AND value_hash = ANY(%b::text[])",
            (project_id, list(hashes)),
        )
        return {row[0] for row in cursor}


def id_names(project_id: int) -> dict[str, bool]:
    """The project's customer ID names, each mapped to whether it is a hard ID (as
    :func:`customers.selectors.id_names`, without building the ORM query per batch)."""
    with _cursor() as cursor:
        cursor.execute(
            f'SELECT name, hard FROM "{ATTRIBUTE}" WHERE project_id = %s AND kind = %s',  # noqa: S608
            (project_id, str(AttributeKind.ID)),
        )
        return dict(cursor.fetchall())


def lock_customers(
    project_id: int, pks: Iterable[int], *, with_properties: Collection[int] = ()
) -> dict[int, LockedCustomer]:
    """Lock these customers (ascending id, the one global order, as
    :func:`customers.services.tracking.lock_customers`) and return them fresh; properties
    are read only for ``with_properties``."""
    wanted = sorted(set(pks))
    if not wanted:
        return {}
    props = sorted(set(with_properties) & set(wanted))
    with _cursor() as cursor:
        cursor.execute(
            "SELECT id, anonymized_at, "  # noqa: S608
            "CASE WHEN id = ANY(%b::bigint[]) THEN properties END, "
            "CASE WHEN id = ANY(%b::bigint[]) THEN property_timestamps END "
            f'FROM "{CUSTOMER}" WHERE project_id = %s AND id = ANY(%b::bigint[]) ORDER BY id FOR UPDATE',
            (props, props, project_id, wanted),
        )
        # Django's connection hands jsonb over as text (its fields decode it themselves).
        return {
            pk: LockedCustomer(pk, anonymized_at, _decoded(props), _decoded(stamps))
            for pk, anonymized_at, props, stamps in cursor
        }


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def update_customers(
    project_id: int, customers: Sequence[ChangedCustomerRow], now: datetime
) -> None:
    """Write the properties (and their timestamps) of customers this batch changed."""
    with _cursor() as cursor:
        cursor.execute(
            f'UPDATE "{CUSTOMER}" AS c SET properties = u.p, property_timestamps = u.t, '  # noqa: S608
            "updated_at = %s FROM unnest(%b::bigint[], %b::jsonb[], %b::jsonb[]) AS u(id, p, t) "
            "WHERE c.id = u.id AND c.project_id = %s",
            (
                now,
                [c.pk for c in customers],
                [json.dumps(c.properties) for c in customers],
                [json.dumps(c.property_timestamps) for c in customers],
                project_id,
            ),
        )


def insert_customers(project_id: int, customers: Sequence[NewCustomerRow]) -> None:
    """Insert new customers with their properties; sets each instance's pk, in order."""
    now = timezone.now()
    with _cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{CUSTOMER}" '  # noqa: S608
            "(project_id, properties, property_timestamps, created_at, updated_at) "
            "SELECT %s, p, t, %s, %s FROM unnest(%b::jsonb[], %b::jsonb[]) "
            "WITH ORDINALITY AS u(p, t, n) ORDER BY n RETURNING id",
            (
                project_id,
                now,
                now,
                [json.dumps(c.properties) for c in customers],
                [json.dumps(c.property_timestamps) for c in customers],
            ),
        )
        pks = [row[0] for row in cursor.fetchall()]
    for customer, pk in zip(customers, pks, strict=True):
        customer.pk = pk


def insert_ids(project_id: int, rows: Sequence[tuple[int, str, str]]) -> None:
    """Insert new external IDs ``(customer_id, name, value)``."""
    with _cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{CUSTOMER_ID}" (project_id, customer_id, name, value, created_at) '  # noqa: S608
            "SELECT %s, u.c, u.n, u.v, %s FROM unnest(%b::bigint[], %b::text[], %b::text[]) "
            "AS u(c, n, v)",
            (
                project_id,
                timezone.now(),
                [customer_id for customer_id, _, _ in rows],
                [name for _, name, _ in rows],
                [value for _, _, value in rows],
            ),
        )


def insert_events(
    project_id: int, rows: Sequence[tuple[int, int, datetime, dict[str, Any]]]
) -> None:
    """Insert events ``(customer_id, event_type_id, timestamp, properties)``."""
    with _cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{EVENT}" '  # noqa: S608
            "(project_id, customer_id, event_type_id, timestamp, properties) "
            "SELECT %s, u.c, u.e, u.t, u.p "
            "FROM unnest(%b::bigint[], %b::bigint[], %b::timestamptz[], %b::jsonb[]) "
            "AS u(c, e, t, p)",
            (
                project_id,
                [customer_id for customer_id, _, _, _ in rows],
                [type_id for _, type_id, _, _ in rows],
                [stamp for _, _, stamp, _ in rows],
                [json.dumps(properties) for _, _, _, properties in rows],
            ),
        )
