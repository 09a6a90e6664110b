"""Ingest benchmark: a real gunicorn + PostgreSQL server fed by concurrent batch clients.

Creates its own database (``bench_ingest`` by default), migrates it, seeds a project and an
API key, starts gunicorn on the production settings (PostgreSQL, Redis cache for the per-key
throttle), and runs N client processes that each send ``/batch`` requests of 50
``customers/events`` commands over keep-alive connections for a fixed time. Then it times
PostgreSQL ``COPY`` of the same event rows into the same table (rolled back) as the physical
limit, and prints both rates as a Markdown table.

    .venv/bin/python bench/ingest.py                 # defaults: 4 clients, 20 s
    .venv/bin/python bench/ingest.py --clients 4 --seconds 30 --workers 3

Needs PostgreSQL at 127.0.0.1:5432 (user root, trust auth) and Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402  (the repository is on sys.path from here)
    PG,
    PYTHON,
    create_database,
    drop_database,
    free_port,
    production_env,
    start_gunicorn,
)

SEED = """
import json
from access.services import api_key_create, project_create
from access.selectors import principal_for_system
project = project_create(name="Bench", created_by="bench")
key, secret = api_key_create(actor=principal_for_system(project), name="Bench", permissions=["track"])
print(json.dumps({"token": str(project.token), "key_id": key.key_id, "secret": secret}))
"""


def migrate_and_seed(env: dict[str, str]) -> dict[str, str]:
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SEED],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


EVENT_TYPES = ["purchase", "page_visit", "cart_update", "view_item"]


def make_body(rng: random.Random, client: int, customers: int) -> bytes:
    """One batch of 50 events for random customers of this client's pool."""
    commands = []
    now = time.time()
    for _ in range(50):
        n = rng.randrange(customers)
        event_type = rng.choice(EVENT_TYPES)
        commands.append(
            {
                "name": "customers/events",
                "data": {
                    "customer_ids": {"registered": f"c{client}-{n}@bench.test"},
                    "event_type": event_type,
                    "timestamp": now - rng.random() * 86400,
                    "properties": {
                        "price": round(rng.random() * 100, 2),
                        "product_id": f"p{rng.randrange(5000)}",
                        "quantity": rng.randrange(1, 5),
                        "url": f"https://shop.example.com/p/{rng.randrange(5000)}",
                        "currency": "EUR",
                    },
                },
            }
        )
    return json.dumps({"commands": commands}).encode()


def client_run(args: tuple[int, int, str, str, float, int, Any]) -> tuple[int, int, int, float]:
    """Send batches until the deadline; return (requests, events ok, failures, busy seconds)."""
    client, port, path, auth, until, customers, start_flag = args
    rng = random.Random(client)
    bodies = [make_body(rng, client, customers) for _ in range(64)]
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start_flag.wait()
    requests = ok = failed = 0
    i = 0
    while time.time() < until:
        body = bodies[i % len(bodies)]
        i += 1
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        requests += 1
        if response.status != 200:
            failed += 50
            continue
        results = json.loads(data)["results"]
        good = sum(1 for r in results if r.get("success"))
        ok += good
        failed += len(results) - good
    conn.close()
    return requests, ok, failed, 0.0


COLUMNS = "project_id, customer_id, event_type_id, timestamp, properties"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes (from /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def server_pids(master: int, db: str) -> tuple[list[int], list[int]]:
    """The gunicorn workers and the PostgreSQL backends serving the benchmark database."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                workers.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    with psycopg.connect(f"{PG}/postgres") as conn:
        backends = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (db,)
            ).fetchall()
        ]
    return workers, backends


def copy_rate(db: str) -> tuple[int, float]:
    """COPY the ingested event rows into the same table again (rolled back): rows/s."""
    buffer = io.BytesIO()
    with psycopg.connect(f"{PG}/{db}") as conn, conn.cursor() as cur:
        with cur.copy(f"COPY (SELECT {COLUMNS} FROM customers_event) TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
        rows = cur.execute("SELECT count(*) FROM customers_event").fetchone()[0]  # type: ignore[index]
        data = buffer.getvalue()
        started = time.perf_counter()
        with cur.copy(f"COPY customers_event ({COLUMNS}) FROM STDIN") as copy:
            view = memoryview(data)
            for offset in range(0, len(data), 1 << 20):
                copy.write(view[offset : offset + (1 << 20)])
        # The foreign keys are deferred to commit; check them now, as a commit would.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        elapsed = time.perf_counter() - started
        conn.rollback()
    return rows, rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    parser.add_argument("--customers", type=int, default=5000, help="customer pool per client")
    parser.add_argument("--db", default="bench_ingest")
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    env = production_env(args.db, args.redis_db)
    print(f"database {args.db}: create, migrate, seed …", flush=True)
    create_database(args.db, replace=True)
    seed = migrate_and_seed(env)
    auth = "Basic " + base64.b64encode(f"{seed['key_id']}:{seed['secret']}".encode()).decode()
    path = f"/track/v2/projects/{seed['token']}/batch"
    port = free_port()
    # Import the app once before forking, so no worker pays the start-up in the run.
    server = start_gunicorn(
        env,
        port,
        workers=args.workers,
        threads=args.threads,
        extra=["--keep-alive", "30", "--preload"],
    )
    try:
        ctx = mp.get_context("fork")
        with ctx.Manager() as manager:
            # Warm-up: first sight of every name and of the catalog, connections opened.
            flag = manager.Event()
            warm_until = time.time() + args.warmup
            with ctx.Pool(args.clients) as pool:
                flag.set()
                pool.map(
                    client_run,
                    [
                        (c, port, path, auth, warm_until, args.customers, flag)
                        for c in range(args.clients)
                    ],
                )
            with psycopg.connect(f"{PG}/{args.db}", autocommit=True) as conn:
                # A live database has statistics (autovacuum); a fresh one has the empty
                # tables' and plans ID lookups as scans. Give the run what production has.
                conn.execute("ANALYZE")
                before = conn.execute("SELECT count(*) FROM customers_event").fetchone()[0]  # type: ignore[index]
            workers, backends = server_pids(server.pid, args.db)
            web_before, db_before = cpu_seconds(workers), cpu_seconds(backends)
            load_before = os.getloadavg()[0]
            flag = manager.Event()
            with ctx.Pool(args.clients) as pool:
                started = time.time()
                until = started + args.seconds
                result = pool.map_async(
                    client_run,
                    [
                        (c, port, path, auth, until, args.customers, flag)
                        for c in range(args.clients)
                    ],
                )
                flag.set()
                stats = result.get()
                elapsed = time.time() - started
            web_cpu = cpu_seconds(workers) - web_before
            db_cpu = cpu_seconds(backends) - db_before
            server_cpu = web_cpu + db_cpu
            load_after = os.getloadavg()[0]
        requests = sum(s[0] for s in stats)
        ok = sum(s[1] for s in stats)
        failed = sum(s[2] for s in stats)
        with psycopg.connect(f"{PG}/{args.db}") as conn:
            after = conn.execute("SELECT count(*) FROM customers_event").fetchone()[0]  # type: ignore[index]
            customers = conn.execute("SELECT count(*) FROM customers_customer").fetchone()[0]  # type: ignore[index]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    stored = after - before
    rows, copy_per_s = copy_rate(args.db)
    api_per_s = ok / elapsed
    print()
    print(
        f"clients={args.clients} gunicorn={args.workers}x{args.threads} gthread "
        f"seconds={elapsed:.1f} requests={requests} failed_events={failed} "
        f"stored_events={stored} customers={customers} cores={os.cpu_count()}"
    )
    print()
    print("| path | events/s | note |")
    print("|---|---:|---|")
    print(
        f"| HTTP `/batch` (50 events each), {args.clients} clients | {api_per_s:,.0f} | "
        f"{requests / elapsed:,.0f} requests/s, {stored:,} events stored |"
    )
    print(
        f"| PostgreSQL `COPY` of the same rows | {copy_per_s:,.0f} | {rows:,} rows, rolled back |"
    )
    print(f"| API / COPY | {api_per_s / copy_per_s:.1%} | |")
    cpu_ms = server_cpu / max(requests, 1) * 1000
    cores = os.cpu_count() or 1
    print(
        f"| server CPU (gunicorn + PostgreSQL backends) | {cpu_ms:.1f} ms per batch | "
        f"{cpu_ms / 50 * 1000:.0f} µs per event: {cores} idle cores would sustain "
        f"≈ {cores * 50 / max(cpu_ms, 1e-9) * 1000:,.0f} events/s |"
    )
    print(
        f"| of which gunicorn / PostgreSQL | {web_cpu / max(requests, 1) * 1000:.1f} / "
        f"{db_cpu / max(requests, 1) * 1000:.1f} ms per batch | |"
    )
    print(f"\nload average 1 min: {load_before:.1f} before, {load_after:.1f} after the run")
    if stored != ok:
        print(f"WARNING: {ok} events acknowledged but {stored} stored", file=sys.stderr)
    if not args.keep:
        drop_database(args.db)


if __name__ == "__main__":
    main()
