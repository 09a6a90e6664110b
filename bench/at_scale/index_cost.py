"""What the search indexes cost writes (issue 14 item 3), measured against today's schema
in the same run: ingest and anonymization with the indexes, then without, on the same
database one after the other.

The indexes in question are the ones issue 14 added to ``customers_customer``: the GIN
``jsonb_path_ops`` index for equality on any property (customers/0006) and the trigram
index of a searchable ``email``. The writes go to a project of their own ("Bench index
cost", ``email`` searchable there too), so the bench shop's pages are not changed by the
customers added here. Events are not touched by the indexes.

1. with the indexes: ``customer_update`` (the tracking service) creates N new customers
   with the data set's ten properties, then one bulk anonymization job (chunks of 1,000,
   as a worker runs it) anonymizes exactly those N;
2. the indexes are dropped (their definitions kept), and 1 runs again on N other new
   customers;
3. the indexes are created again from their definitions (plain ``CREATE INDEX``).

Wall time and CPU (this process + its PostgreSQL backend) of each step. GIN inserts go to
the index's pending list first (``fastupdate``), which a later insert or VACUUM merges: a
short run may end before a merge, so the ingest figure is a lower bound of the GIN's
share (the merge's cost is in VACUUM; see docs/benchmarks.md).
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.at_scale.dataset import Bench
from bench.at_scale.timing import Extra, backend_pid, cpu_ns

GIN_INDEX = "customer_properties_path_ops"
COST_PROJECT = "Bench index cost"


def _indexes(project_id: int) -> list[tuple[str, str]]:
    """(name, definition) of the GIN and of the project's searchable trigram indexes."""
    from django.db import connection

    from datamanager.models import CustomerAttribute
    from datamanager.search_indexes import index_name

    names = [GIN_INDEX] + [
        index_name(pk)
        for pk in CustomerAttribute.objects.filter(
            project_id=project_id, searchable=True
        ).values_list("pk", flat=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c WHERE c.relname = ANY(%s)",
            [names],
        )
        return [(str(n), str(d)) for n, d in cursor.fetchall()]


def _measure(label: str, fn: Any) -> tuple[float, float]:
    pid = backend_pid()
    db0, app0, started = cpu_ns(pid), time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - started
    db1 = cpu_ns(pid)
    cpu = time.process_time() - app0 + ((db1 - db0) / 1e9 if db0 is not None and db1 else 0.0)
    print(f"  {label}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    return wall, cpu


def _ingest(project: Any, round_label: str, n: int) -> list[int]:
    from access.selectors import principal_for_system
    from customers.services import customer_update

    actor = principal_for_system(project, label="bench")
    rng = random.Random(round_label)
    ids: list[int] = []
    for i in range(n):
        email = f"ic-{round_label}-{i}@bench.invalid"
        tracked = customer_update(
            actor=actor,
            ids={"registered": email},
            properties={
                "email": email,
                "first_name": rng.choice(("Eva", "Jan", "Olivia", "Elias")),
                "last_name": rng.choice(("Novak", "Cerny", "Varga", "Muller")),
                "phone": f"+421 9{rng.randrange(10**8):08d}",
                "city": rng.choice(("Vienna", "Brno", "Warsaw")),
                "country": rng.choice(("AT", "CZ", "PL")),
                "plan": rng.choice(("free", "premium", "business")),
                "birth_date": "1990-04-10",
                "newsletter": rng.random() < 0.5,
                "lifetime_value": round(rng.random() * 500, 1),
            },
        )
        ids.append(tracked.customer.pk)
    return ids


def _anonymize(project: Any, ids: list[int]) -> None:
    from access.selectors import principal_for_system
    from customers.services.anonymization_jobs import (
        anonymization_job_create,
        anonymization_job_run_all,
    )

    job = anonymization_job_create(
        actor=principal_for_system(project, label="bench"),
        source="cli",
        customers=ids,
        start=False,
    )
    finished = anonymization_job_run_all(job_id=job.pk, size=1000)
    assert finished.status == "done", finished.error


def _raw_sql(source_id: int, target_id: int, rows: int) -> None:
    """PostgreSQL's part alone: insert ``rows`` customers into the cost project (copies of
    the bench shop's), then remove e-mail and phone from each, as set-based SQL, then roll
    back. Enough rows to overflow the GIN's pending list (4 MB), so its merge is in it."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM customers_customer")
        before = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO customers_customer (project_id, properties, property_timestamps,"
            " created_at, updated_at) SELECT %s, properties, property_timestamps,"
            " now(), now() FROM customers_customer WHERE project_id = %s ORDER BY id LIMIT %s",
            [target_id, source_id, rows],
        )
        cursor.execute(
            "UPDATE customers_customer SET properties = properties - 'email' - 'phone'"
            " WHERE project_id = %s AND id > %s",
            [target_id, before],
        )
        transaction.set_rollback(True)


def _cost_project() -> Any:
    """A project of its own (so the bench shop's id order and pages stay as they were), with
    the shop's PII flags and ``email`` searchable, as in the shop."""
    from access.models import Project
    from access.selectors import principal_for_system
    from access.services import project_create
    from customers.management.commands.seed_demo import PII_CUSTOMER
    from datamanager.search_indexes import searchable_set
    from datamanager.services import pii_flags_set

    project = Project.objects.filter(name=COST_PROJECT).order_by("id").first()
    if project is None:
        project = project_create(name=COST_PROJECT, created_by="bench")
    actor = principal_for_system(project, label="bench")
    _ingest(project, "seed", 1)  # the catalog learns the properties
    pii_flags_set(actor=actor, customer_attributes={name: True for name in PII_CUSTOMER})
    searchable_set(actor=actor, name="email", searchable=True)
    return project


def run_index_cost(bench: Bench, extra: Extra) -> None:
    from django.db import connection

    n = min(2000, max(10, bench.customers // 500))
    stamp = str(int(time.time()))
    project = _cost_project()
    indexes = _indexes(project.pk)
    raw_rows = min(50_000, max(100, bench.customers // 20))
    print(f"index cost: {n} customers ingested and anonymized with, then without {indexes!r}")
    figures: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        for round_tag, label in (("a", "with the indexes"), ("b", "without (today's schema)")):
            if label.startswith("without"):
                with connection.cursor() as cursor:
                    for name, _ in indexes:
                        cursor.execute(f"DROP INDEX IF EXISTS {name}")
            tag = f"{stamp}{round_tag}"
            ids: list[int] = []

            def ingest(tag: str = tag, ids: list[int] = ids) -> None:
                ids.extend(_ingest(project, tag, n))

            figures[label] = {
                "raw SQL": _measure(
                    f"{label}: raw SQL", lambda: _raw_sql(bench.project.pk, project.pk, raw_rows)
                ),
                "ingest": _measure(f"{label}: ingest", ingest),
                "anonymize": _measure(
                    f"{label}: anonymize", lambda ids=ids: _anonymize(project, ids)
                ),
            }
    finally:
        with connection.cursor() as cursor:
            for name, definition in indexes:
                if not _exists(cursor, name):
                    print(f"  re-creating {name}", flush=True)
                    cursor.execute(definition)
    with_, without = figures["with the indexes"], figures["without (today's schema)"]
    for step in ("raw SQL", "ingest", "anonymize"):
        (w_wall, w_cpu), (o_wall, o_cpu) = with_[step], without[step]
        what = f"insert + update of {raw_rows:,} rows each" if step == "raw SQL" else f"{n}"
        extra.append(
            (
                f"index cost, {step} ({what} customers): with / without",
                f"{w_cpu / o_cpu - 1:+.0%} CPU" if o_cpu else "n/a",
                f"CPU {w_cpu:.2f} / {o_cpu:.2f} s, wall {w_wall:.2f} / {o_wall:.2f} s "
                f"({', '.join(name for name, _ in indexes)})",
            )
        )
        print(f"  {extra[-1]}")


def _exists(cursor: Any, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s", [name])
    return cursor.fetchone() is not None
