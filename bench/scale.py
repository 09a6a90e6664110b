"""Customer filter, profile and export at scale, against Django's admin changelist.

    .venv/bin/python bench/scale.py --customers 1000000 --events-per-customer 5

Creates (once) its own PostgreSQL database ``bench_scale``, migrates it, seeds the
"Bench shop" project with the demo's PII flags, an admin (with Personal data), a
marketer (without) and a superuser (for Django's admin), loads the customers with
``manage.py generate_dataset`` unless the project already has them, and adds one
customer with 10,000 events. Then it times every page server-side, in-process through
Django's test client (the full middleware stack, session and template rendering; no
network), and prints one table: median and p95 over ``--requests`` requests per case.

The CSV export runs in a subprocess so its peak memory (``ru_maxrss``) is its own.

Benchmarks are not tests: nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROJECT_NAME = "Bench shop"
HEAVY_EMAIL = "heavy.customer@bench.invalid"
HEAVY_EVENTS = 10_000
ADMIN_PER_PAGE = 100  # ModelAdmin.list_per_page; the admin's ?p= is 0-based
PG_SERVER = "postgres://root@127.0.0.1:5432"


def _configure(db: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG_SERVER}/{db}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "exponea_pii.test_settings"
    os.environ.setdefault("AXES_ENABLED", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # One PostgreSQL backend for the whole run, so its CPU time can be read per request.
    os.environ.setdefault("DB_CONN_MAX_AGE", "36000")


def _create_database(db: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{db}"')
            print(f"created database {db}")


@dataclass
class Bench:
    project: Any
    admin: Any
    marketer: Any
    superuser: Any
    heavy_customer_id: int
    customers: int


def prepare(customers: int, events_per_customer: int) -> Bench:
    """Migrate, seed users and flags, load the dataset unless present, add the heavy customer."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from access.models import Project, Role
    from access.selectors import principal_for_system
    from access.services import member_add, project_create, user_get_or_create
    from customers.management.commands.seed_demo import PII_CUSTOMER, PII_EVENTS
    from customers.models import Customer, CustomerId
    from datamanager.services import pii_flags_set

    call_command("migrate", verbosity=0)
    project = Project.objects.filter(name=PROJECT_NAME).order_by("id").first()
    if project is None:
        project = project_create(name=PROJECT_NAME, created_by="bench")
    actor = principal_for_system(project, label="bench")

    have = Customer.objects.filter(project=project).count()
    if have < customers:
        print(f"loading {customers - have} customers x {events_per_customer} events ...")
        started = time.monotonic()
        call_command(
            "generate_dataset",
            project=str(project.token),
            customers=customers - have,
            events_per_customer=events_per_customer,
            seed=have + 1,
        )
        print(f"loaded in {time.monotonic() - started:.0f} s")
    else:
        print(f"reusing {have} customers in {PROJECT_NAME!r}")

    heavy = CustomerId.objects.filter(project=project, name="registered", value=HEAVY_EMAIL).first()
    heavy_id = _add_heavy_customer(actor) if heavy is None else heavy.customer_id

    pii_flags_set(
        actor=actor,
        customer_attributes={name: True for name in PII_CUSTOMER},
        event_attributes={pair: True for pair in PII_EVENTS},
    )
    users = {}
    for username, role_name in (("bench_admin", "Admin"), ("bench_marketer", "Marketer")):
        user = user_get_or_create(username=username, email=f"{username}@bench.invalid")
        member_add(
            actor=actor, user=user, roles=[Role.objects.get(project=project, name=role_name)]
        )
        users[username] = user
    User = get_user_model()
    superuser = User.objects.filter(username="bench_superuser").first()
    if superuser is None:
        superuser = User.objects.create_superuser(
            "bench_superuser", "bench_superuser@bench.invalid", "bench-superuser-pass"
        )
    return Bench(
        project=project,
        admin=users["bench_admin"],
        marketer=users["bench_marketer"],
        superuser=superuser,
        heavy_customer_id=heavy_id,
        customers=Customer.objects.filter(project=project).count(),
    )


def _add_heavy_customer(actor: Any) -> int:
    """One customer with 10,000 events over a year, tracked through the services."""
    import random

    from customers.demo import BROWSERS, PAGES, PRODUCTS
    from customers.services import customer_update, events_track_many

    rng = random.Random(10_000)
    tracked = customer_update(
        actor=actor,
        ids={"registered": HEAVY_EMAIL, "cookie": "ck-heavy-bench"},
        properties={
            "email": HEAVY_EMAIL,
            "first_name": "Heavy",
            "last_name": "Buyer",
            "city": "Vienna",
            "country": "AT",
            "plan": "business",
            "newsletter": True,
        },
    )
    now = time.time()
    events: list[tuple[str, float, dict[str, Any]]] = []
    for i in range(HEAVY_EVENTS):
        at = now - 365 * 86400 * (i / HEAVY_EVENTS)
        kind = rng.random()
        if kind < 0.6:
            events.append(
                (
                    "page_visit",
                    at,
                    {"url": "https://shop.example.com" + rng.choice(PAGES), "ip": "198.51.100.7"},
                )
            )
        elif kind < 0.85:
            events.append(
                ("session_start", at, {"browser": rng.choice(BROWSERS), "cookie_index": 0})
            )
        else:
            name, price = rng.choice(PRODUCTS)
            events.append(
                (
                    "purchase",
                    at,
                    {
                        "total": price,
                        "currency": "EUR",
                        "items": [name],
                        "shipping_address": "1 Ring St, Vienna",
                        "card_last4": "4242",
                    },
                )
            )
    for start in range(0, len(events), 2000):
        events_track_many(
            actor=actor, customer=tracked.customer, events=events[start : start + 2000]
        )
    print(f"heavy customer #{tracked.customer.pk} with {HEAVY_EVENTS} events")
    return tracked.customer.pk


# Timing ---------------------------------------------------------------------------------


@dataclass
class Result:
    case: str
    who: str
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    status: int = 0
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms) if self.times_ms else float("nan")

    @property
    def p95(self) -> float:
        return _p95(self.times_ms)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ms) if self.cpu_ms else float("nan")

    @property
    def cpu_p95(self) -> float:
        return _p95(self.cpu_ms)


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _backend_pid() -> int | None:
    from django.db import connection

    raw = connection.connection
    return raw.info.backend_pid if raw is not None else None


def _cpu_ns(pid: int | None) -> int | None:
    """Nanoseconds a process has run on a CPU (Linux schedstat; the PostgreSQL backend)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def time_get(
    client: Any, url: str, requests: int, warmup: int = 2
) -> tuple[list[float], list[float], int, bytes]:
    """GET ``url`` ``warmup + requests`` times; wall ms and CPU ms (this process + its
    PostgreSQL backend) of the timed ones, the status and the last body.

    The CPU time does not grow with the machine's load, so it is what the request would
    take on an idle machine (minus I/O waits, and not counting PostgreSQL's parallel
    workers, which only the admin changelist's full counts use: that understates the
    admin's cost, never ours).
    """
    times: list[float] = []
    cpu: list[float] = []
    status = 0
    body = b""
    for i in range(warmup + requests):
        pid = _backend_pid()
        db0 = _cpu_ns(pid)
        app0 = time.thread_time_ns()
        started = time.perf_counter()
        response = client.get(url)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        elapsed = (time.perf_counter() - started) * 1000
        app = time.thread_time_ns() - app0
        db1 = _cpu_ns(pid) if _backend_pid() == pid else None
        status = response.status_code
        if i >= warmup:
            times.append(elapsed)
            if db0 is not None and db1 is not None:
                cpu.append((app + db1 - db0) / 1e6)
    return times, cpu, status, body


def client_for(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def run_case(
    results: list[Result], case: str, who: str, client: Any, url: str, requests: int
) -> Result:
    times, cpu, status, _ = time_get(client, url, requests)
    result = Result(case=case, who=who, times_ms=times, cpu_ms=cpu, status=status)
    if status != 200:
        result.note = f"HTTP {status}"
    results.append(result)
    print(
        f"  {case:<44} {who:<10} median {result.median:8.1f} ms  p95 {result.p95:8.1f} ms"
        f"  cpu median {result.cpu_median:7.1f} ms  p95 {result.cpu_p95:7.1f} ms  [{status}]",
        flush=True,
    )
    return result


def print_table(results: list[Result], extra: list[tuple[str, str, str]]) -> None:
    print()
    print(
        "| case | who | wall median ms | wall p95 ms | CPU median ms | CPU p95 ms | note |\n"
        "|---|---|---:|---:|---:|---:|---|"
    )
    for r in results:
        print(
            f"| {r.case} | {r.who} | {r.median:.1f} | {r.p95:.1f} | {r.cpu_median:.1f} "
            f"| {r.cpu_p95:.1f} | {r.note} |"
        )
    print()
    print("| measure | value | note |\n|---|---:|---|")
    for name, value, note in extra:
        print(f"| {name} | {value} | {note} |")


# Export in a subprocess ---------------------------------------------------------------


def export_worker(db: str, username: str, url: str) -> None:
    """Stream one export through the test client; print rows, seconds and peak RSS as JSON."""
    _configure(db)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    client = client_for(user)
    from django.db import connection

    api_format = url.removeprefix("API:") if url.startswith("API:") else None
    if api_format is not None:
        client, url, body = _api_export_request(user, api_format)
    connection.ensure_connection()
    db_pid = _backend_pid()
    db_cpu0 = _cpu_ns(db_pid)
    app_cpu0 = time.process_time()
    started = time.perf_counter()
    if api_format is not None:
        response = client.post(url, data=body, content_type="application/json")
    else:
        response = client.get(url)
    rows = 0
    size = 0
    first_line = b""
    # JSON has no line per row: count the row separators (a chunk may split one).
    separator = b"],[" if api_format and api_format != "csv" else b"\n"
    tail = b""
    if getattr(response, "streaming", False):
        for chunk in response.streaming_content:
            if not first_line:
                first_line = bytes(chunk).split(b"\n", 1)[0]
            rows += (tail + chunk).count(separator)
            tail = bytes(chunk[-(len(separator) - 1) :]) if len(separator) > 1 else b""
            size += len(chunk)
        if separator != b"\n" and size:
            rows += 2  # n rows have n - 1 separators; "rows" below subtracts a header line
    else:
        rows = response.content.count(b"\n")
        size = len(response.content)
    seconds = time.perf_counter() - started
    app_cpu = time.process_time() - app_cpu0
    db_cpu1 = _cpu_ns(db_pid) if _backend_pid() == db_pid else None
    db_cpu = (db_cpu1 - db_cpu0) / 1e9 if db_cpu0 is not None and db_cpu1 is not None else None
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "app_cpu": app_cpu,
                "db_cpu": db_cpu,
                "status": response.status_code,
                "streaming": bool(getattr(response, "streaming", False)),
                "rows": max(rows - 1, 0),  # minus the header line
                "bytes": size,
                "seconds": seconds,
                "peak_mb": peak_mb,
            }
        )
    )


def _api_export_request(user: Any, export_format: str) -> tuple[Any, str, str]:
    """A client with a fresh API key holding the user's Personal data permission, and the
    export of the page CSV's columns (IDs, default columns) in ``export_format``."""
    from django.test import Client

    from access.models import Project
    from access.selectors import principal_for_system, principal_for_user
    from access.services import api_key_create
    from customers.views import DEFAULT_COLUMNS

    project = Project.objects.get(name=PROJECT_NAME)
    personal = principal_for_user(user, project).can_see_personal_data
    permissions = ["read_customers", "export_customers"] + (
        ["view_personal_data"] if personal else []
    )
    key, secret = api_key_create(
        actor=principal_for_system(project, label="bench"),
        name=f"bench export {user.username}",
        permissions=permissions,
    )
    basic = base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    client = Client(HTTP_AUTHORIZATION=f"Basic {basic}")
    attributes = [{"type": "id", "id": name} for name in ("registered", "cookie")] + [
        {"type": "property", "property": name} for name in DEFAULT_COLUMNS
    ]
    body = json.dumps({"format": export_format, "attributes": attributes})
    return client, f"/data/v2/projects/{project.token}/customers/export", body


def copy_export_worker(db: str, username: str) -> None:
    """The physical limit: the same CSV (IDs, default columns, masked in SQL) via COPY."""
    _configure(db)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from access.models import Project
    from access.selectors import principal_for_user
    from customers.views import DEFAULT_COLUMNS
    from datamanager.masking import MASK, Masker

    project = Project.objects.get(name=PROJECT_NAME)
    principal = principal_for_user(get_user_model().objects.get(username=username), project)
    masker = Masker.for_principal(principal)
    # The masking decision is the Masker's, per column; SQL only writes the constant.
    selects = ["c.id"]
    for id_name in ("cookie", "registered"):
        # One grouped pass over the IDs, merged on the customer id (no per-row subquery).
        selects.append(
            f"'{MASK}'" if masker.hides_customer_attribute(id_name) else f"ids.{id_name}"
        )
    for column in DEFAULT_COLUMNS:
        selects.append(
            f"'{MASK}'"
            if masker.hides_customer_attribute(column)
            else f"c.properties ->> '{column}'"
        )
    sql = (
        f"COPY (SELECT {', '.join(selects)} FROM customers_customer c LEFT JOIN ("
        "SELECT customer_id,"
        " string_agg(value, ';' ORDER BY id) FILTER (WHERE name = 'cookie') AS cookie,"
        " string_agg(value, ';' ORDER BY id) FILTER (WHERE name = 'registered') AS registered"
        f" FROM customers_customerid WHERE project_id = {project.pk} GROUP BY customer_id"
        f") ids ON ids.customer_id = c.id WHERE c.project_id = {project.pk} ORDER BY c.id"
        ") TO STDOUT WITH (FORMAT csv, HEADER)"
    )
    connection.ensure_connection()
    db_pid = _backend_pid()
    db_cpu0 = _cpu_ns(db_pid)
    app_cpu0 = time.process_time()
    started = time.perf_counter()
    rows = size = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for block in copy:
            rows += bytes(block).count(b"\n")
            size += len(block)
    seconds = time.perf_counter() - started
    app_cpu = time.process_time() - app_cpu0
    db_cpu1 = _cpu_ns(db_pid)
    db_cpu = (db_cpu1 - db_cpu0) / 1e9 if db_cpu0 is not None and db_cpu1 is not None else None
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "app_cpu": app_cpu,
                "db_cpu": db_cpu,
                "status": 200,
                "streaming": True,
                "rows": rows - 1,
                "bytes": size,
                "seconds": seconds,
                "peak_mb": peak_mb,
            }
        )
    )


def run_export(db: str, username: str, url: str) -> dict[str, Any]:
    worker = (
        ["--copy-export-worker", username] if url == "COPY" else ["--export-worker", username, url]
    )
    out = subprocess.run(
        [sys.executable, __file__, "--db", db, *worker],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"export worker failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


# The cases ------------------------------------------------------------------------------


def _cursor_after(bench: Bench, rows: int) -> str:
    """The list's cursor after ``rows`` customers in its default order (newest id first)."""
    from customers.listing import encode_cursor
    from customers.models import Customer

    pk = (
        Customer.objects.filter(project=bench.project)
        .order_by("-pk")
        .values_list("pk", flat=True)[rows - 1 : rows]
        .get()
    )
    return encode_cursor(pk, pk)


def _count_queries(client: Any, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    return len(ctx.captured_queries)


def run_all(
    bench: Bench,
    args: argparse.Namespace,
    results: list[Result],
    extra: list[tuple[str, str, str]],
    skip: set[str],
) -> None:
    from urllib.parse import urlencode

    token = bench.project.token
    deep_rows = min(500_000, max(bench.customers // 2, 1))
    deep = _cursor_after(bench, deep_rows)
    size = args.size  # the list's default is 25; Django's admin shows 100
    list_url = f"/projects/{token}/customers/"
    plan = "premium"
    cases = [
        ("first page", {"size": size}),
        (f"deep page (after {deep_rows:,} rows)", {"size": size, "after": deep}),
        (f"first page, plan = {plan}", {"size": size, "c": f"plan:equals:{plan}"}),
        (
            f"deep page, plan = {plan}",
            {"size": size, "c": f"plan:equals:{plan}", "after": deep},
        ),
        ("first page, purchase in last 30 days", {"size": size, "e": "purchase:30"}),
    ]
    admin_cases = [
        ("first page", {"project__id__exact": bench.project.pk}),
        (
            f"deep page (offset {deep_rows:,})",
            {"project__id__exact": bench.project.pk, "p": deep_rows // ADMIN_PER_PAGE},
        ),
        (
            f"first page, plan = {plan}",
            {"project__id__exact": bench.project.pk, "properties__plan": plan},
        ),
        (
            f"deep page, plan = {plan}",
            # The same rows as the filter's deep page start at about a quarter of the offset.
            {
                "project__id__exact": bench.project.pk,
                "properties__plan": plan,
                "p": deep_rows // ADMIN_PER_PAGE // 4,
            },
        ),
    ]
    clients = {
        "admin": client_for(bench.admin),
        "marketer": client_for(bench.marketer),
        "superuser": client_for(bench.superuser),
    }
    queries: dict[str, int] = {}
    filter_results: dict[tuple[str, str], Result] = {}
    if "baseline" not in skip:
        # The floor every project page pays: session, user, project, membership and
        # permission queries, then a redirect (no customer data, no template).
        print("baseline: project home (authenticated redirect)")
        run_case(
            results,
            "baseline: project home (redirect)",
            "admin",
            clients["admin"],
            f"/projects/{token}/",
            args.requests,
        )
    if "filter" not in skip:
        print(f"customer filter ({bench.customers:,} customers), {args.requests} requests each")
        for case, params in cases:
            url = list_url + "?" + urlencode(params)
            for who in ("admin", "marketer"):
                r = run_case(results, f"filter: {case}", who, clients[who], url, args.requests)
                filter_results[(case, who)] = r
            queries[f"filter: {case}"] = _count_queries(clients["marketer"], url)
    if "admin" not in skip:
        print(f"Django admin changelist, {args.admin_requests} requests each")
        for (case, params), (fcase, _) in zip(admin_cases, cases, strict=False):
            url = "/admin/customers/customer/?" + urlencode(params)
            r = run_case(
                results,
                f"admin changelist: {case}",
                "superuser",
                clients["superuser"],
                url,
                args.admin_requests,
            )
            ours = filter_results.get((fcase, "admin"))
            if ours and ours.median > 0:
                r.note = (r.note + " " if r.note else "") + (
                    f"{r.cpu_median / ours.cpu_median:.1f}x the filter's CPU, "
                    f"{r.median / ours.median:.1f}x its wall time"
                )
            queries[f"admin changelist: {case}"] = _count_queries(clients["superuser"], url)
    for (case, who), r in filter_results.items():
        if who == "marketer":
            base = filter_results.get((case, "admin"))
            if base and base.median > 0:
                r.note = (r.note + " " if r.note else "") + (
                    f"masking {100 * (r.cpu_median / base.cpu_median - 1):+.0f} % CPU, "
                    f"{100 * (r.median / base.median - 1):+.0f} % wall"
                )
    if "profile" not in skip:
        url = f"/projects/{token}/customers/{bench.heavy_customer_id}/"
        print("profile of a customer with 10,000 events")
        for who in ("admin", "marketer"):
            run_case(results, "profile, 10k events", who, clients[who], url, args.requests)
        queries["profile, 10k events"] = _count_queries(clients["marketer"], url)
        url_typed = url + "?" + urlencode({"type": "purchase"})
        run_case(
            results,
            "profile, 10k events, type = purchase",
            "admin",
            clients["admin"],
            url_typed,
            args.requests,
        )
    if "export" not in skip:
        url = f"/projects/{token}/customers/export.csv"
        users = {"admin": bench.admin, "marketer": bench.marketer}
        wanted = [w.strip() for w in args.export_as.split(",") if w.strip() in users]
        # Side by side, in turn per principal: page CSV, API csv and native_json, and the
        # physical limit (COPY of the same columns, masked in SQL for the marketer).
        runs = []
        for who in wanted:
            runs += [
                ("CSV export", who, users[who], url),
                ("API csv export", who, users[who], "API:csv"),
                ("API native_json export", who, users[who], "API:native_json"),
                ("CSV via COPY (limit)", who, users[who], "COPY"),
            ]
        for label, who, user, target in runs:
            print(f"{label} of every customer as {who} (subprocess)")
            out = run_export(args.db, user.username, target)
            rate = out["rows"] / out["seconds"] if out["seconds"] else 0.0
            extra.append(
                (
                    f"{label} as {who}: {out['rows']:,} rows",
                    f"{rate:,.0f}/s",
                    f"{out['seconds']:.1f} s, peak RSS {out['peak_mb']:.0f} MB, "
                    f"CPU {out.get('app_cpu') or 0:.1f} s app + {out.get('db_cpu') or 0:.1f} s "
                    "PostgreSQL, "
                    f"{out['bytes'] / 1e6:.0f} MB, HTTP {out['status']}, streaming={out['streaming']}",
                )
            )
            print(f"  {extra[-1]}")
    for name, n in queries.items():
        extra.append((f"queries per request: {name}", str(n), ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events-per-customer", type=int, default=5)
    parser.add_argument(
        "--db", default="bench_scale", help="PostgreSQL database (created if absent)"
    )
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case")
    parser.add_argument(
        "--admin-requests", type=int, default=10, help="timed requests per admin case"
    )
    parser.add_argument(
        "--export-as", default="admin", help="comma list of admin,marketer (default admin)"
    )
    parser.add_argument(
        "--size", type=int, default=25, help="customer filter page size (25, 50, 100)"
    )
    parser.add_argument("--prepare-only", action="store_true", help="load the data and stop")
    parser.add_argument(
        "--skip", default="", help="comma list: baseline,filter,admin,profile,export"
    )
    parser.add_argument("--copy-export-worker", metavar="USERNAME", help=argparse.SUPPRESS)
    parser.add_argument(
        "--export-worker", nargs=2, metavar=("USERNAME", "URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.export_worker:
        export_worker(args.db, *args.export_worker)
        return
    if args.copy_export_worker:
        copy_export_worker(args.db, args.copy_export_worker)
        return

    _configure(args.db)
    _create_database(args.db)
    bench = prepare(args.customers, args.events_per_customer)
    if args.prepare_only:
        return
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    results: list[Result] = []
    extra: list[tuple[str, str, str]] = []
    run_all(bench, args, results, extra, skip)
    print_table(results, extra)


if __name__ == "__main__":
    main()
