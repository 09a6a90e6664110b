"""Bounded load test: 20 users for 60 s of mixed customer filter, profile and tracking traffic
against gunicorn on PostgreSQL, with the production settings (DEBUG off, Redis cache).

    .venv/bin/python bench/load.py                      # defaults: 20 users, 60 s, 2,000 customers
    .venv/bin/python bench/load.py --users 20 --duration 60 --customers 2000 --workers 3

What it does, in one run:

1. drops and creates its own PostgreSQL database ``bench_load`` (``--database``), migrates it
   and seeds it with ``seed_demo --customers N`` (the demo shop: PII flags, a marketer without
   Personal data, API keys);
2. collects static files into a private temporary folder (production settings serve them
   from a manifest) and starts gunicorn (gthread) on a free loopback port;
3. runs ``--users`` asyncio users for ``--duration`` seconds. Each user signs in as the
   marketer (a real login form POST with the CSRF token) and then loops over a weighted mix:
   the customer filter with non-PII conditions / sorts / pages (35 %), a customer profile
   (35 %), and tracking through the API — an event or a property update for a known customer
   (30 %). One request at a time per user, no think time: a closed-loop load;
4. prints requests/s, latency percentiles and errors (any non-2xx/3xx answer or socket error)
   per kind and in total, as a Markdown table for docs/reliability.md.

With ``--bulk-job`` a Celery worker (production settings, Redis broker on ``--redis-db``,
the job watchdog's beat embedded) runs alongside, and every ``--bulk-every`` seconds a bulk
anonymization of ``--bulk-size`` customers is requested through the API
(``anonymize_bulk``). Those customers are set aside: the users' traffic never touches them.
After the run every job must end ``done``, and an integrity check reads each job customer:
anonymized, exactly one ``anonymization`` event, no registered ID, no PII property, no PII
event attribute left. Worker RSS and CPU are sampled and reported with the server's.

Only loopback addresses are used. The client is a minimal HTTP/1.1 client on asyncio streams
(one connection per request, ``Connection: close``), so no third-party client is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.at_load.bulk import (  # noqa: E402  (the repository is on sys.path from here)
    Bulk,
    bulk_report,
    finish_bulk_jobs,
    request_bulk_jobs,
    start_worker,
)
from bench.at_load.http_client import http  # noqa: E402
from bench.common import (  # noqa: E402
    HOST,
    PG,
    PYTHON,
    create_database,
    drop_database,
    free_port,
    percentile,
    production_env,
    start_gunicorn,
)

FILTERS: list[dict[str, str]] = [
    {},
    {"c": "plan:equals:premium"},
    {"c": "city:equals:Prague"},
    {"c": "lifetime_value:gt:100"},
    {"sort": "-lifetime_value"},
    {"e": "purchase:30"},
    {"c": "country:equals:SK", "sort": "city"},
    {"c": "newsletter:equals:true", "size": "50"},
]
MIX = [("filter", 0.35), ("profile", 0.35), ("tracking", 0.30)]


# Setup --------------------------------------------------------------------------------------


def server_env(database: str, redis_db: int, static_root: Path) -> dict[str, str]:
    """Production settings with a private STATIC_ROOT (see :func:`write_settings`)."""
    return production_env(
        database,
        redis_db,
        PYTHONPATH=f"{static_root.parent}{os.pathsep}{ROOT}",
        DJANGO_SETTINGS_MODULE="load_settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
    )


def write_settings(folder: Path) -> Path:
    """Production settings with a private STATIC_ROOT (the shared tree's is not touched)."""
    static_root = folder / "static"
    (folder / "load_settings.py").write_text(
        f"from exponea_pii.settings import *  # noqa: F403\nSTATIC_ROOT = {str(static_root)!r}\n"
    )
    return static_root


def prepare_database(
    database: str, env: dict[str, str], customers: int, *, reuse: bool, bulk_customers: int = 0
) -> dict[str, Any]:
    """Create, migrate and seed the database; ``reuse`` keeps an existing one (seed_demo is
    idempotent: it adds missing customers only and rotates the demo keys' secrets).

    ``bulk_customers`` more are bulk-loaded afterwards (``generate_dataset``, PostgreSQL
    ``COPY``: seed_demo tracks each customer through the services, minutes per thousand on a
    busy machine); they get the highest ids, so :func:`set_aside` gives them to the jobs."""
    create_database(database, replace=not reuse)
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--no-input", "-v", "0"], env=env, check=True)
    print(f"seeding {customers} demo customers ...", file=sys.stderr, flush=True)
    out = subprocess.run(
        [*manage, "seed_demo", "--customers", str(customers), "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seeded: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if bulk_customers:
        print(f"bulk-loading {bulk_customers} customers for the jobs ...", file=sys.stderr)
        subprocess.run(
            [
                *manage, "generate_dataset", "--project", seeded["project_token"],
                "--customers", str(bulk_customers), "--events-per-customer", "2", "-v", "0",
            ],
            env=env,
            check=True,
            capture_output=True,
        )  # fmt: skip
    with psycopg.connect(f"{PG}/{database}") as conn:
        project_id = conn.execute(
            "SELECT id FROM access_project WHERE token = %s", [seeded["project_token"]]
        ).fetchone()[0]  # type: ignore[index]
        seeded["customer_ids"] = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM customers_customer WHERE project_id = %s", [project_id]
            )
        ]
        seeded["pairs"] = [
            (int(r[0]), str(r[1]))
            for r in conn.execute(
                "SELECT customer_id, value FROM customers_customerid "
                "WHERE project_id = %s AND name = 'registered' ORDER BY customer_id",
                [project_id],
            )
        ]
        seeded["registered"] = [email for _, email in seeded["pairs"]]
    return seeded


def set_aside(seeded: dict[str, Any], count: int) -> list[tuple[int, str]]:
    """The last ``count`` registered customers, for the bulk jobs; removed from the users'
    traffic (tracking an erased e-mail is refused by design, and would count as an error)."""
    if count >= len(seeded["pairs"]):
        raise SystemExit(f"--customers too small: the bulk jobs need {count} customers")
    reserved = seeded["pairs"][-count:]
    ids = {pk for pk, _ in reserved}
    seeded["customer_ids"] = [pk for pk in seeded["customer_ids"] if pk not in ids]
    seeded["registered"] = [email for _, email in seeded["pairs"][:-count]]
    return reserved


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(master: int, database: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn processes and of the database's PostgreSQL backends."""
    workers = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == master:
                workers.append(int(entry.name))
    with psycopg.connect(f"{PG}/postgres") as conn:
        backends = [
            r[0]
            for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
        ]
    return {
        "gunicorn": {pid: _cpu_seconds(pid) for pid in workers},
        "postgres": {pid: _cpu_seconds(pid) for pid in backends},
    }


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def server_sample(master: int, database: str) -> tuple[float, float, int]:
    """(largest gunicorn worker RSS MiB, all gunicorn RSS MiB, database connections) now."""
    pids = list(server_cpu(master, database)["gunicorn"])
    rss = [_rss_mib(pid) for pid in pids if pid != master]
    with psycopg.connect(f"{PG}/postgres") as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchone()
    return (max(rss, default=0.0), sum(rss) + _rss_mib(master), int(row[0]) if row else 0)


async def sample_server(
    args: argparse.Namespace,
    clock: dict[str, float],
    samples: list[tuple[float, float, float, int, float]],
) -> None:
    """Every --sample-every seconds of the run: worker memory and database connections, so a
    long run shows whether they stay flat (a leak grows, a connection leak climbs)."""
    start = time.monotonic()
    while True:
        sample = await asyncio.to_thread(server_sample, args.server_pid, args.database)
        worker = getattr(args, "worker_pid", None)
        worker_rss = _rss_mib(worker) if worker else 0.0
        samples.append((time.monotonic() - start, *sample, worker_rss))
        if time.monotonic() >= clock["deadline"]:
            return
        await asyncio.sleep(min(args.sample_every, max(0.0, clock["deadline"] - time.monotonic())))


def cpu_used(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    return {
        side: sum(cpu - before[side].get(pid, 0.0) for pid, cpu in after[side].items())
        for side in after
    }


# Users --------------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        if error:
            self.errors.setdefault(kind, []).append(error)


async def sign_in(port: int, username: str, password: str) -> dict[str, str]:
    page = await http(port, "GET", "/accounts/login/", timeout=120)
    cookies = page.cookies()
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert token, "no CSRF token on the login page"
    form = urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1).decode()}
    ).encode()
    answer = await http(
        port,
        "POST",
        "/accounts/login/",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        },
        body=form,
        timeout=120,
    )
    cookies.update(answer.cookies())
    if answer.status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"sign-in failed: {answer.status}")
    return cookies


async def user(
    number: int,
    port: int,
    seeded: dict[str, Any],
    cookies: dict[str, str],
    clock: dict[str, float],
    stats: Stats,
) -> None:
    rng = random.Random(number)
    token = seeded["project_token"]
    key = next(k for k in seeded["api_keys"] if "track" in k["permissions"])
    basic = "Basic " + base64.b64encode(f"{key['key_id']}:{key['secret']}".encode()).decode()
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    deadline = clock["deadline"]
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        if kind == "filter":
            query = rng.choice(FILTERS)
            path = f"/projects/{token}/customers/" + (f"?{urlencode(query)}" if query else "")
            request: dict[str, Any] = {
                "method": "GET",
                "path": path,
                "headers": {"Cookie": cookie_header},
            }
        elif kind == "profile":
            pk = rng.choice(seeded["customer_ids"])
            request = {
                "method": "GET",
                "path": f"/projects/{token}/customers/{pk}/",
                "headers": {"Cookie": cookie_header},
            }
        else:
            email = rng.choice(seeded["registered"])
            if rng.random() < 0.7:
                path = f"/track/v2/projects/{token}/customers/events"
                data: dict[str, Any] = {
                    "customer_ids": {"registered": email},
                    "event_type": "page_visit",
                    "timestamp": time.time(),
                    "properties": {"url": "https://shop.example.com/sale", "ip": "192.0.2.1"},
                }
            else:
                path = f"/track/v2/projects/{token}/customers"
                data = {
                    "customer_ids": {"registered": email},
                    "properties": {"plan": rng.choice(["basic", "premium"])},
                }
            request = {
                "method": "POST",
                "path": path,
                "headers": {"Authorization": basic, "Content-Type": "application/json"},
                "body": json.dumps(data).encode(),
            }
        started = time.perf_counter()
        error = None
        try:
            answer = await http(port, **request)
            if answer.status >= 400:
                error = f"{answer.status} {request['path']}"
        except Exception as exc:
            error = f"{type(exc).__name__} {request['path']}"
        stats.record(kind, time.perf_counter() - started, error)


# Report -------------------------------------------------------------------------------------


def report(stats: Stats, duration: float, args: argparse.Namespace) -> str:
    rows = []
    everything: list[float] = []
    errors = 0
    for kind, _ in MIX:
        lat = stats.latencies.get(kind, [])
        everything += lat
        errs = len(stats.errors.get(kind, []))
        errors += errs
        rows.append((kind, len(lat), lat, errs))
    rows.append(("total", len(everything), everything, errors))
    out = [
        f"users={args.users} duration={duration:.1f}s customers={args.customers} "
        f"gunicorn={args.workers}x{args.threads} gthread, PostgreSQL, Redis cache, DEBUG off"
        + (", a Celery worker (solo pool, beat) on a Redis broker" if args.bulk else ""),
        f"machine: {os.cpu_count()} cores, load average before/after the run: "
        f"{args.load_before:.1f} / {os.getloadavg()[0]:.1f} (other work shares these cores)",
        "",
        "| traffic | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, count, lat, errs in rows:
        out.append(
            f"| {kind} | {count} | {count / duration:.1f} | {percentile(lat, 50) * 1000:.0f} | "
            f"{percentile(lat, 95) * 1000:.0f} | {percentile(lat, 99) * 1000:.0f} | "
            f"{(max(lat) if lat else 0) * 1000:.0f} | {errs} |"
        )
    samples = getattr(args, "samples", [])
    bulk = getattr(args, "bulk", None)
    if samples:
        celery = " Celery worker RSS MiB |" if bulk else ""
        out += [
            "",
            "| at s | largest worker RSS MiB | all gunicorn RSS MiB | database connections |"
            + celery,
            "|---:|---:|---:|---:|" + ("---:|" if bulk else ""),
        ]
        out += [
            f"| {t:.0f} | {big:.0f} | {total:.0f} | {conns} |"
            + (f" {worker:.0f} |" if bulk else "")
            for t, big, total, conns, worker in samples
        ]
    if bulk:
        out += ["", bulk_report(bulk)]
    if stats.errors:
        sample = [e for errs in stats.errors.values() for e in errs][:10]
        out += ["", "first errors: " + "; ".join(sample)]
    if everything:
        out.append(f"\nmean latency {statistics.mean(everything) * 1000:.0f} ms")
        # Wall times above include waiting for cores that other work holds; CPU time per
        # request does not, and bounds the throughput of these cores when they are idle.
        cpu = getattr(args, "cpu", {})
        total_cpu = sum(cpu.values())
        per_request = total_cpu / len(everything) * 1000
        out.append(
            f"server CPU per request: {per_request:.1f} ms (gunicorn "
            f"{cpu.get('gunicorn', 0) / len(everything) * 1000:.1f} + PostgreSQL "
            f"{cpu.get('postgres', 0) / len(everything) * 1000:.1f}); the server used "
            f"{total_cpu / duration:.2f} of {os.cpu_count()} cores; on idle cores this mix "
            f"would top out near {(os.cpu_count() or 1) * 1000 / max(per_request, 0.001):.0f} requests/s"
        )
    return "\n".join(out)


async def wait_until_serving(port: int, timeout: float = 120.0) -> None:
    """Every gunicorn worker may still be importing Django after the port opens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await http(port, "GET", "/accounts/login/", timeout=10)).status == 200:
                return
        except (TimeoutError, OSError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("the server did not answer")


async def run_load(
    args: argparse.Namespace, port: int, seeded: dict[str, Any]
) -> tuple[Stats, float]:
    await wait_until_serving(port)
    marketer = next(u for u in seeded["users"] if u["username"] == "marketer")
    # Sign-ins happen one by one before the clock starts: the load is the users' work, not
    # their logins (a production password hash costs ~0.5 s of CPU on purpose).
    sessions = [
        await sign_in(port, marketer["username"], marketer["password"]) for _ in range(args.users)
    ]
    stats = Stats()
    cpu_before = server_cpu(args.server_pid, args.database)
    start = time.monotonic()
    clock = {"deadline": start + args.duration}
    args.samples = []
    worker = getattr(args, "worker_pid", None)
    worker_cpu = _cpu_seconds(worker) if worker else 0.0
    extra = []
    if getattr(args, "bulk", None) is not None:
        extra.append(request_bulk_jobs(args, port, seeded, clock, args.bulk))
    await asyncio.gather(
        sample_server(args, clock, args.samples),
        *(user(n, port, seeded, sessions[n], clock, stats) for n in range(args.users)),
        *extra,
    )
    elapsed = time.monotonic() - start
    args.cpu = cpu_used(cpu_before, server_cpu(args.server_pid, args.database))
    if worker:
        args.bulk.worker_cpu_during_load = _cpu_seconds(worker) - worker_cpu
        await finish_bulk_jobs(args, port, seeded, args.bulk)
        args.bulk.worker_cpu_total = _cpu_seconds(worker) - worker_cpu
    return stats, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--customers", type=int, default=2000, help="demo customers to seed")
    parser.add_argument("--database", default="bench_load", help="PostgreSQL database (dropped!)")
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--sample-every", type=float, default=10.0, help="seconds between RSS/connection samples"
    )
    parser.add_argument(
        "--bulk-job",
        action="store_true",
        help="run a Celery worker and request bulk anonymizations during the load",
    )
    parser.add_argument("--bulk-size", type=int, default=100, help="customers per bulk job")
    parser.add_argument("--bulk-every", type=float, default=20.0, help="seconds between jobs")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse an existing database instead of re-seeding"
    )
    args = parser.parse_args()
    if args.database in {"postgres", "test", "root"}:
        parser.error("use a database of the benchmark's own")

    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        static_root = write_settings(Path(tmp))
        env = server_env(args.database, args.redis_db, static_root)
        # Anonymizations append to an erasure ledger: a private one, not the tree's var/.
        env["ERASURE_LEDGER_DIR"] = str(Path(tmp) / "erasure-ledger")
        jobs = int(args.duration // args.bulk_every) + 1 if args.bulk_job else 0
        seeded = prepare_database(
            args.database,
            env,
            args.customers,
            reuse=args.reuse,
            bulk_customers=jobs * args.bulk_size,
        )
        port = free_port()
        worker = None
        args.bulk = None
        if args.bulk_job:
            args.bulk = Bulk(
                set_aside(seeded, jobs * args.bulk_size), args.bulk_size, args.bulk_every
            )
            # The broker is Redis on --redis-db: give the bench a database index of its own
            # (the worker runs every job message it finds there against this database).
            worker = start_worker(env, Path(tmp))
            args.worker_pid = worker.pid
        args.load_before = os.getloadavg()[0]
        server = start_gunicorn(env, port, workers=args.workers, threads=args.threads)
        args.server_pid = server.pid
        try:
            stats, duration = asyncio.run(run_load(args, port, seeded))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            if worker is not None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=60)
        if not args.keep:
            drop_database(args.database)
    print(report(stats, duration, args))


if __name__ == "__main__":
    main()
