"""Events partitioned by month, measured beside today's single table (issue 14 item 5).

Builds ``bench_event_part``: a copy of ``customers_event`` partitioned ``BY RANGE
("timestamp")``, one partition a month, with the same three secondary indexes (created on
the parent, so each partition has its own), then times on both tables, same data, same
run:

- the customer filter's "purchase in the last 30 days" first page (the SQL shape
  ``customers/filters/sql.py`` ``_event_q`` emits: ``EXISTS`` on type and time), which on
  the partitioned table reads only the partitions of the last 30 days;
- the profile's timeline page of the customer with 10,000 events (newest 50), which has
  no time bound and probes every partition's index;
- retention keeping the newest six months: ``DELETE`` of the older rows (rolled back)
  against ``DETACH`` + ``DROP`` of the partitions wholly before the cutoff.

The copy is dropped at the end. Nothing of the application uses it.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.at_scale.dataset import Bench
from bench.at_scale.timing import Extra

PARENT = "bench_event_part"


def _time(cursor: Any, sql: str, params: list[Any], repeat: int = 7) -> float:
    """Median ms of ``sql`` over ``repeat`` runs after one warm-up."""
    cursor.execute(sql, params)
    cursor.fetchall()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        cursor.execute(sql, params)
        cursor.fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _build(cursor: Any) -> tuple[int, float]:
    """Create and fill the partitioned copy; (partitions, seconds)."""
    started = time.perf_counter()
    cursor.execute(f"DROP TABLE IF EXISTS {PARENT}")
    cursor.execute(
        f'CREATE TABLE {PARENT} (LIKE customers_event INCLUDING DEFAULTS) PARTITION BY RANGE ("timestamp")'
    )
    cursor.execute(
        "SELECT date_trunc('month', min(\"timestamp\")), date_trunc('month', max(\"timestamp\"))"
        " FROM customers_event"
    )
    first, last = cursor.fetchone()
    cursor.execute(
        "SELECT m FROM generate_series(%s::timestamptz, %s::timestamptz, interval '1 month') m",
        [first, last],
    )
    months = [row[0] for row in cursor.fetchall()]
    for month in months:
        name = f"{PARENT}_{month:%Y_%m}"
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s::timestamptz + interval '1 month')",
            [month, month],
        )
    cursor.execute(f"INSERT INTO {PARENT} SELECT * FROM customers_event")
    # The primary key must hold the partition key; the three indexes are today's.
    cursor.execute(f'ALTER TABLE {PARENT} ADD PRIMARY KEY ("timestamp", id)')
    cursor.execute(f'CREATE INDEX ON {PARENT} (customer_id, "timestamp" DESC, id DESC)')
    cursor.execute(f'CREATE INDEX ON {PARENT} (project_id, event_type_id, "timestamp")')
    cursor.execute(f'CREATE INDEX ON {PARENT} (event_type_id, "timestamp") INCLUDE (customer_id)')
    cursor.execute(f"ANALYZE {PARENT}")
    return len(months), time.perf_counter() - started


def _filter_sql(bench: Bench) -> tuple[str, list[Any]]:
    """The first page's SQL of ``e=purchase:30`` exactly as the customer filter emits it."""
    from access.selectors import principal_for_user
    from customers.filters import CustomerFilter, customers_matching

    principal = principal_for_user(bench.admin, bench.project)
    rows = customers_matching(principal, CustomerFilter.from_string("e=purchase:30"))
    sql, params = rows.order_by("-pk").values("pk")[:25].query.sql_with_params()
    return sql, list(params)


def run_partitioning(bench: Bench, extra: Extra) -> None:
    from django.db import connection, transaction

    from datamanager.models import EventType

    purchase = (
        EventType.objects.filter(project=bench.project, name="purchase")
        .values_list("pk", flat=True)
        .first()
    )
    if purchase is None:
        print("partitioning: no purchase events, skipped")
        return
    print("partitioning: copying the events into a table partitioned by month")
    with connection.cursor() as cursor:
        partitions, seconds = _build(cursor)
        cursor.execute("SELECT count(*) FROM customers_event")
        rows = cursor.fetchone()[0]
        print(f"  {rows:,} events in {partitions} partitions in {seconds:.0f} s", flush=True)
        figures: dict[str, tuple[float, float]] = {}
        filter_sql, filter_params = _filter_sql(bench)
        for case, sql, params in (
            ("filter: purchase in last 30 days, first page", filter_sql, filter_params),
            (
                "profile timeline, 10k events, newest 50",
                'SELECT id, "timestamp" FROM "customers_event" WHERE customer_id = %s'
                ' ORDER BY "timestamp" DESC, id DESC LIMIT 50',
                [bench.heavy_customer_id],
            ),
        ):
            single = _time(cursor, sql, params)
            parted = _time(cursor, sql.replace('"customers_event"', PARENT), params)
            figures[case] = (single, parted)
            print(f"  {case}: single table {single:.1f} ms, partitioned {parted:.1f} ms")
        # Retention keeping the newest six months: the partitions wholly before the cutoff.
        cursor.execute(
            "SELECT date_trunc('month', max(\"timestamp\")) - interval '6 months'"
            " FROM customers_event"
        )
        cutoff = cursor.fetchone()[0]
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [PARENT],
        )
        old = [n for (n,) in cursor.fetchall() if n < f"{PARENT}_{cutoff:%Y_%m}"]
        cursor.execute('SELECT count(*) FROM customers_event WHERE "timestamp" < %s', [cutoff])
        old_rows = cursor.fetchone()[0]
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute('DELETE FROM customers_event WHERE "timestamp" < %s', [cutoff])
        delete_s = time.perf_counter() - started
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        for name in old:
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
            cursor.execute(f"DROP TABLE {name}")
        drop_s = time.perf_counter() - started
        cursor.execute(f"DROP TABLE {PARENT}")
    print(
        f"  retention before {cutoff:%Y-%m-%d} ({len(old)} partitions, {old_rows:,} rows):"
        f" DELETE {delete_s:.2f} s, DROP {drop_s * 1000:.0f} ms"
    )
    extra.append(
        (
            f"partitioned events: {rows:,} rows, {partitions} monthly partitions",
            f"{seconds:.0f} s",
            "copy + indexes + ANALYZE",
        )
    )
    for case, (single, parted) in figures.items():
        extra.append(
            (f"partitioned events: {case}", f"{parted:.1f} ms", f"single table {single:.1f} ms")
        )
    extra.append(
        (
            f"partitioned events: retention, all but the newest 6 months ({len(old)} "
            f"partitions, {old_rows:,} rows)",
            f"DROP {drop_s * 1000:.0f} ms",
            f"DELETE of the same rows from the single table {delete_s:.2f} s (rolled back)",
        )
    )
