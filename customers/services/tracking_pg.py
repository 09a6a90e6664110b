"""PostgreSQL statements for the batch tracking path: array parameters and COPY.

The ORM's ``bulk_create`` costs about as much Python per row as the rest of a request
(model instances, per-field preparation, client-side quoting of every value). Here each
statement has a fixed text with array parameters, bound server-side, and events and IDs
go in with ``COPY``, so a batch of 50 events costs a handful of round trips and little
Python. Used only on PostgreSQL; other databases take the ORM path in
:mod:`customers.services.tracking_batch`. Errors are translated to Django's (an
``IntegrityError`` from a concurrent insert is retried by the caller).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

import psycopg
from django.db import connection
from django.utils import timezone

from ..models import Customer, CustomerId, Event


class NewCustomerRow(Protocol):
    properties: dict[str, Any]
    property_timestamps: dict[str, Any]
    pk: int | None


CUSTOMER = Customer._meta.db_table
CUSTOMER_ID = CustomerId._meta.db_table
EVENT = Event._meta.db_table


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
    by_name: dict[str, list[str]] = {}
    for name, value in keys:
        by_name.setdefault(name, []).append(value)
    # One `name = .. AND value = ANY(..)` per ID name: index scans on the unique
    # (project, name, value) index whatever the table size. (A join with unnest() gets a
    # generic plan that hashes the whole ID table once the statement is prepared.)
    condition = " OR ".join(["(name = %s AND value = ANY(%s::text[]))"] * len(by_name))
    params: list[Any] = [project_id]
    for name, values in by_name.items():
        params.extend([name, values])
    with _cursor() as cursor:
        cursor.execute(
            f'SELECT name, value, customer_id FROM "{CUSTOMER_ID}" '  # noqa: S608
            f"WHERE project_id = %s AND ({condition})",
            params,
        )
        return {(name, value): customer_id for name, value, customer_id in cursor}


def insert_customers(project_id: int, customers: Sequence[NewCustomerRow]) -> None:
    """Insert new customers with their properties; sets each instance's pk, in order."""
    now = timezone.now()
    with _cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{CUSTOMER}" '  # noqa: S608
            "(project_id, properties, property_timestamps, created_at, updated_at) "
            "SELECT %s, p, t, %s, %s FROM unnest(%s::jsonb[], %s::jsonb[]) "
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
    """``COPY`` new external IDs ``(customer_id, name, value)``."""
    now = timezone.now()
    with (
        _cursor() as cursor,
        cursor.copy(
            f'COPY "{CUSTOMER_ID}" (project_id, customer_id, name, value, created_at) FROM STDIN'
        ) as copy,
    ):
        for customer_id, name, value in rows:
            copy.write_row((project_id, customer_id, name, value, now))


def insert_events(
    project_id: int, rows: Sequence[tuple[int, int, datetime, dict[str, Any]]]
) -> None:
    """``COPY`` events ``(customer_id, event_type_id, timestamp, properties)``."""
    with (
        _cursor() as cursor,
        cursor.copy(
            f'COPY "{EVENT}" (project_id, customer_id, event_type_id, timestamp, properties) '
            "FROM STDIN"
        ) as copy,
    ):
        for customer_id, type_id, stamp, properties in rows:
            copy.write_row((project_id, customer_id, type_id, stamp, json.dumps(properties)))
