"""Personal-data export of one customer with many events: time and peak memory.

    DATABASE_URL=postgres://root@127.0.0.1:5432/h7 .venv/bin/python bench/personal_data_export.py
    .venv/bin/python bench/personal_data_export.py --events 1000,10000     # SQLite (in memory)

Creates a throw-away test database (``test_<name>``, dropped at the end), one customer per
size in ``--events`` with that many events (PII attributes included), then streams each
customer's personal-data export document (customers/services/personal_data_export.py, the
JSON the page's download and the API answer) to nowhere and prints the time, the rows per
second, the peak of Python's allocations while streaming (``tracemalloc``) and the bytes.
On PostgreSQL the physical limit is measured beside it: ``COPY (SELECT json_build_object(
...) FROM events WHERE customer = ...) TO STDOUT`` of the same events. Bounded memory means
the peak does not grow with the number of events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.test_settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", default="10000,100000", help="comma-separated sizes")
    args = parser.parse_args()
    sizes = [int(n) for n in args.events.split(",")]
    cpu_start = time.process_time()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from access.selectors import principal_for_system
    from access.services import project_create
    from customers.models import Event, EventType
    from customers.services import customer_update, event_track
    from customers.services.personal_data_export import json_blocks, personal_data_export
    from datamanager.services import pii_flags_set

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        project = project_create(name="Export bench", created_by="bench")
        actor = principal_for_system(project, label="bench")
        rows = []
        for n in sizes:
            customer = customer_update(
                actor=actor,
                ids={"registered": f"bench{n}@example.com"},
                properties={"email": f"bench{n}@example.com", "first_name": "Ann"},
            ).customer
            # One tracked event registers the type and its attributes in the catalog.
            event_track(
                actor=actor,
                ids={"registered": f"bench{n}@example.com"},
                event_type="purchase",
                properties={"total": 1, "shipping_address": "1 Bench Street", "sku": "A1"},
            )
            _events(customer, n - 1, Event, EventType)
            rows.append((n, customer))
        pii_flags_set(
            actor=actor,
            customer_attributes={"email": True, "first_name": True},
            event_attributes={("purchase", "shipping_address"): True},
        )
        print("| events | seconds | events/s | peak Python memory | bytes | COPY s | ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n, customer in rows:
            tracemalloc.start()
            started = time.perf_counter()
            document = personal_data_export(actor=actor, customer_pk=customer.pk)
            size = sum(len(block) for block in json_blocks(document))
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            copy_s = _copy_seconds(connection, customer.pk)
            ratio = f"{copy_s / seconds:.2f}x" if copy_s else "—"
            copy_text = f"{copy_s:.2f}" if copy_s else "—"
            print(
                f"| {n:,} | {seconds:.2f} | {n / seconds:,.0f} | {peak / 2**20:.1f} MiB "
                f"| {size / 2**20:.1f} MiB | {copy_text} | {ratio} |"
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    load = os.getloadavg()[0]
    print(f"CPU time {time.process_time() - cpu_start:.1f} s; load average {load:.2f}")


def _events(customer: object, n: int, event_model: type, type_model: type) -> None:
    from django.utils import timezone

    purchase, _ = type_model.objects.get_or_create(project=customer.project, name="purchase")  # type: ignore[attr-defined]
    start = timezone.now() - dt.timedelta(days=365)
    batch = []
    for i in range(n):
        batch.append(
            event_model(
                project=customer.project,  # type: ignore[attr-defined]
                customer=customer,
                event_type=purchase,
                timestamp=start + dt.timedelta(seconds=i),
                properties={"total": i % 500, "shipping_address": f"{i} Bench Street", "sku": "A1"},
            )
        )
        if len(batch) == 5000:
            event_model.objects.bulk_create(batch)  # type: ignore[attr-defined]
            batch = []
    event_model.objects.bulk_create(batch)  # type: ignore[attr-defined]


def _copy_seconds(connection: object, customer_pk: int) -> float | None:
    """PostgreSQL writing the same events as JSON lines itself (the physical limit)."""
    if connection.vendor != "postgresql":  # type: ignore[attr-defined]
        return None
    sql = (
        "COPY (SELECT json_build_object('type', t.name, 'timestamp', "
        "extract(epoch FROM e.timestamp), 'properties', e.properties) "
        "FROM customers_event e JOIN datamanager_eventtype t ON t.id = e.event_type_id "
        f"WHERE e.customer_id = {int(customer_pk)} ORDER BY e.timestamp, e.id) TO STDOUT"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        raw = cursor.connection
        with raw.cursor().copy(sql) as copy:
            for _block in copy:
                pass
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
