"""Benchmark: the anonymization service against hand-written set-based SQL, same data, one run.

    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_anonymize \
        .venv/bin/python bench/anonymize.py --customers 100000 --events 5

PostgreSQL only. The script creates the database named in DATABASE_URL if it is missing,
migrates it, generates two identical copies of N customers with M events each (two
projects, filled by the same SQL), then anonymizes one copy with hand-written SQL (one
statement per table over the whole project: the physical limit) and the other with the
service as a bulk job runs it (job items inserted by INSERT ... SELECT, then chunk after
chunk, progress committed with each chunk), checks both copies ended in the same state and
prints the throughput of each and their ratio. The database is dropped at the end unless
``--keep``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.test_settings")

from bench.common import create_database, drop_database, timed  # noqa: E402

PII_PROPERTIES = ["email", "phone", "first_name", "last_name"]
PII_EVENTS = {"page_visit": ["ip"], "purchase": ["shipping_address", "card_last4"]}


def database_name(url: str) -> str:
    """The database DATABASE_URL names, on the benches' PostgreSQL server (bench.common)."""
    import dj_database_url

    cfg = dj_database_url.parse(url)
    if "postgresql" not in cfg["ENGINE"]:
        sys.exit("bench/anonymize.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    return str(cfg["NAME"])


def make_project(name: str) -> Any:
    from access.selectors import principal_for_system
    from access.services import project_create
    from datamanager.services import catalog_register_seen, pii_flags_set

    project = project_create(name=name, created_by="bench")
    actor = principal_for_system(project, label="bench")
    catalog_register_seen(
        project=project,
        customer_properties={"email": "a@b.c", "phone": "+1", "first_name": "A", "last_name": "B",
                             "city": "Brno", "plan": "free", "lifetime_value": 1.5},
        events={
            "page_visit": {"url": "/", "ip": "1.2.3.4"},
            "purchase": {"total": 1.5, "shipping_address": "x", "card_last4": "1234"},
        },
    )  # fmt: skip
    pii_flags_set(
        actor=actor,
        customer_attributes={name: True for name in ["registered", "cookie", *PII_PROPERTIES]},
        event_attributes={(t, a): True for t, attrs in PII_EVENTS.items() for a in attrs},
    )
    return project


def fill(project: Any, customers: int, events: int) -> None:
    """N customers, their registered + cookie IDs and M events each, in four statements."""
    from django.db import connection

    from datamanager.models import EventType

    types = dict(EventType.objects.filter(project=project).values_list("name", "pk"))
    pid = project.pk
    with connection.cursor() as c:
        c.execute(
            """
            INSERT INTO customers_customer
                (project_id, properties, property_timestamps, created_at, updated_at)
            SELECT %s, jsonb_build_object(
                       'email', 'p' || %s || '.c' || g || '@bench.test',
                       'phone', '+421 9' || lpad((g %% 100000000)::text, 8, '0'),
                       'first_name', 'First' || (g %% 997), 'last_name', 'Last' || (g %% 991),
                       'city', 'Brno', 'plan', 'free', 'lifetime_value', (g %% 500)::float),
                   jsonb_build_object('email', 1.0, 'phone', 1.0, 'first_name', 1.0,
                       'last_name', 1.0, 'city', 1.0, 'plan', 1.0, 'lifetime_value', 1.0),
                   now() - interval '1 day', now() - interval '1 day'
            FROM generate_series(1, %s) g
            """,
            [pid, pid, customers],
        )
        c.execute(
            """
            INSERT INTO customers_customerid (project_id, customer_id, name, value, created_at)
            SELECT %s, id, 'registered', properties->>'email', now()
            FROM customers_customer WHERE project_id = %s
            UNION ALL
            SELECT %s, id, 'cookie', 'ck-' || %s || '-' || id, now()
            FROM customers_customer WHERE project_id = %s
            """,
            [pid, pid, pid, pid, pid],
        )
        c.execute(
            """
            INSERT INTO customers_event (project_id, customer_id, event_type_id, timestamp, properties)
            SELECT %s, c.id,
                   CASE WHEN k %% 5 = 0 THEN %s ELSE %s END,
                   now() - k * interval '1 hour',
                   CASE WHEN k %% 5 = 0
                     THEN jsonb_build_object('total', k * 10.5, 'shipping_address',
                          k || ' Main St, Brno', 'card_last4', lpad(k::text, 4, '0'))
                     ELSE jsonb_build_object('url', 'https://shop.example.com/p' || k,
                          'ip', '10.0.' || (c.id %% 250) || '.' || k)
                   END
            FROM customers_customer c CROSS JOIN generate_series(1, %s) k
            WHERE c.project_id = %s
            """,
            [pid, types["purchase"], types["page_visit"], events, pid],
        )


def raw_sql(project: Any) -> None:
    """The physical limit: the same semantics, one statement per table for the whole project."""
    from django.db import connection, transaction

    from datamanager.models import EventType

    types = dict(EventType.objects.filter(project=project).values_list("name", "pk"))
    pid = project.pk
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            """
            UPDATE customers_customer
            SET properties = properties - %s::text[],
                property_timestamps = property_timestamps - %s::text[],
                anonymized_at = now(), updated_at = now()
            WHERE project_id = %s AND anonymized_at IS NULL
            """,
            [PII_PROPERTIES, PII_PROPERTIES, pid],
        )
        c.execute("DELETE FROM customers_customerid WHERE project_id = %s", [pid])
        c.execute(
            """
            INSERT INTO customers_customerid (project_id, customer_id, name, value, created_at)
            SELECT %s, id, 'cookie', md5(random()::text || id::text), now()
            FROM customers_customer WHERE project_id = %s
            """,
            [pid, pid],
        )
        all_keys = sorted({k for keys in PII_EVENTS.values() for k in keys})
        c.execute(
            """
            UPDATE customers_event
            SET properties = CASE event_type_id WHEN %s THEN properties - %s::text[]
                                                WHEN %s THEN properties - %s::text[] END
            WHERE project_id = %s AND event_type_id IN (%s, %s) AND properties ?| %s::text[]
            """,
            [
                types["page_visit"], PII_EVENTS["page_visit"],
                types["purchase"], PII_EVENTS["purchase"],
                pid, types["page_visit"], types["purchase"], all_keys,
            ],
        )  # fmt: skip
        c.execute(
            """
            INSERT INTO customers_event (project_id, customer_id, event_type_id, timestamp, properties)
            SELECT %s, id, %s, now(), '{"source": "cli"}'::jsonb
            FROM customers_customer WHERE project_id = %s
            """,
            [pid, types["anonymization"], pid],
        )
        c.execute(
            """
            INSERT INTO access_auditevent
                (project_id, actor_label, action, target_type, target_id, details, created_at)
            SELECT %s, 'bench', 'customer.anonymize', 'customer', id::text,
                   '{"source": "cli"}'::jsonb, now()
            FROM customers_customer WHERE project_id = %s
            """,
            [pid, pid],
        )


def service(project: Any, chunk: int) -> None:
    """The bulk path as a worker runs it: a job, then chunk after chunk."""
    from access.selectors import principal_for_system
    from customers.models import Customer
    from customers.services.anonymization_jobs import (
        anonymization_job_create,
        anonymization_job_run_all,
    )

    actor = principal_for_system(project, label="bench")
    job = anonymization_job_create(
        actor=actor,
        source="cli",
        customers=Customer.objects.filter(project=project, anonymized_at__isnull=True),
        start=False,
    )
    finished = anonymization_job_run_all(job_id=job.pk, size=chunk)
    assert finished.status == "done", finished.error


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) so far of this process and of its PostgreSQL backend.

    The server is local (bench.common): the backend's counters are in ``/proc``. On a
    shared machine wall-clock time depends on everyone else; CPU time much less so.
    """
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT pg_backend_pid()")
        pid = c.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        backend = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except OSError:  # the server runs elsewhere: Python's share only
        backend = 0.0
    return time.process_time(), backend


@dataclass
class Measured:
    seconds: float = 0.0
    python_cpu: float = 0.0
    database_cpu: float = 0.0

    @property
    def cpu(self) -> float:
        return self.python_cpu + self.database_cpu


@contextmanager
def measured() -> Iterator[Measured]:
    """Wall clock and CPU time (this process, its PostgreSQL backend) of the block."""
    result = Measured()
    python0, database0 = cpu_seconds()
    with timed() as wall:
        yield result
    python1, database1 = cpu_seconds()
    result.seconds = wall.seconds
    result.python_cpu, result.database_cpu = python1 - python0, database1 - database0


def state(project: Any) -> dict[str, int]:
    from django.db import connection

    pid = project.pk
    with connection.cursor() as c:
        c.execute(
            """
            SELECT
              (SELECT count(*) FROM customers_customer WHERE project_id = %s AND anonymized_at IS NULL),
              (SELECT count(*) FROM customers_customer WHERE project_id = %s AND properties ?| %s::text[]),
              (SELECT count(*) FROM customers_customerid WHERE project_id = %s AND name <> 'cookie'),
              (SELECT count(*) FROM customers_customerid WHERE project_id = %s),
              (SELECT count(*) FROM customers_event WHERE project_id = %s
                 AND properties ?| ARRAY['ip', 'shipping_address', 'card_last4']),
              (SELECT count(*) FROM customers_event e JOIN datamanager_eventtype t
                 ON t.id = e.event_type_id WHERE e.project_id = %s AND t.name = 'anonymization'),
              (SELECT count(*) FROM customers_event WHERE project_id = %s),
              (SELECT count(*) FROM access_auditevent WHERE project_id = %s
                 AND action = 'customer.anonymize')
            """,
            [pid, pid, PII_PROPERTIES, pid, pid, pid, pid, pid, pid],
        )
        row = c.fetchone()
    keys = ["not_anonymized", "with_pii_properties", "non_cookie_ids", "ids", "events_with_pii",
            "anonymization_events", "events", "audit_events"]  # fmt: skip
    return dict(zip(keys, row, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5, help="Events per customer.")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--checks-off",
        action="store_true",
        help="Also run the service on a third copy with the erasure checks (leftover check, "
        "suppression) switched off, to show what they cost.",
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit("Set DATABASE_URL=postgres://root@127.0.0.1:5432/bench_anonymize")
    name = database_name(url)
    create_database(name)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    suffix = int(time.time())
    raw_project = make_project(f"bench-raw-{suffix}")
    service_project = make_project(f"bench-service-{suffix}")
    projects = [raw_project, service_project]
    if args.checks_off:
        from customers.models import ErasureSettings

        off_project = make_project(f"bench-checks-off-{suffix}")
        ErasureSettings.objects.create(
            project=off_project, remove_leftovers=False, suppress_erased_ids=False
        )
        projects.append(off_project)
    started = time.perf_counter()
    for project in projects:
        fill(project, args.customers, args.events)
    with connection.cursor() as c:
        c.execute("VACUUM ANALYZE")  # autocommit: statistics as production would have them
    print(
        f"generated {len(projects)} x {args.customers:,} customers x {args.events} events "
        f"in {time.perf_counter() - started:.1f}s"
    )

    load_before = os.getloadavg()[0]
    with measured() as raw:
        raw_sql(raw_project)
    with measured() as by_service:
        service(service_project, args.chunk_size)
    rows = [
        ("hand-written SQL (one statement per table)", raw),
        (f"service, bulk job (chunks of {args.chunk_size})", by_service),
    ]
    if args.checks_off:
        with measured() as checks_off:
            service(off_project, args.chunk_size)
        rows.append(("service, erasure checks off (no leftover check, no suppression)", checks_off))
    load_after = os.getloadavg()[0]

    raw_state, service_state = state(raw_project), state(service_project)
    assert raw_state == service_state, (raw_state, service_state)
    assert raw_state["not_anonymized"] == 0 and raw_state["events_with_pii"] == 0
    assert raw_state["anonymization_events"] == args.customers

    n = args.customers
    print()
    print(
        f"| {n:,} customers x {args.events} events | seconds | customers/s "
        "| CPU s (Python + PostgreSQL) | customers per CPU s |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, m in rows:
        print(
            f"| {label} | {m.seconds:.2f} | {n / m.seconds:,.0f} "
            f"| {m.cpu:.2f} ({m.python_cpu:.2f} + {m.database_cpu:.2f}) "
            f"| {n / m.cpu:,.0f} |"
            if m.cpu
            else f"| {label} | {m.seconds:.2f} | {n / m.seconds:,.0f} | - | - |"
        )
    print(f"\nratio service / raw SQL throughput: {raw.seconds / by_service.seconds:.2f}x")
    if raw.cpu and by_service.cpu:
        print(f"ratio service / raw SQL per CPU second: {raw.cpu / by_service.cpu:.2f}x")
    print(
        f"load average (1 min) before / after the timed part: {load_before:.1f} / {load_after:.1f}"
    )
    print(f"end state (identical for both copies): {raw_state}")

    connection.close()
    if not args.keep:
        drop_database(name)


if __name__ == "__main__":
    main()
