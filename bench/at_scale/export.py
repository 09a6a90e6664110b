"""The export cases of bench/scale.py: each export in a subprocess of its own (so its
peak memory, ``ru_maxrss``, is its own), side by side with the bare ``COPY`` of the same
columns, the physical limit."""

from __future__ import annotations

import argparse
import base64
import json
import resource
import subprocess
import sys
import time
from typing import Any

from bench.at_scale.dataset import PROJECT_NAME, Bench, configure
from bench.at_scale.timing import Extra, backend_pid, client_for, cpu_ns
from bench.common import ROOT

# The script the workers run in (it dispatches ``--export-worker`` and
# ``--copy-export-worker`` here).
SCALE_SCRIPT = str(ROOT / "bench" / "scale.py")


def export_worker(db: str, username: str, url: str) -> None:
    """Stream one export through the test client; print rows, seconds and peak RSS as JSON."""
    configure(db)
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    client = client_for(user)
    from django.db import connection

    api_format = url.removeprefix("API:") if url.startswith("API:") else None
    if api_format is not None:
        client, url, body = _api_export_request(user, api_format)
    # A server imports its URLconf (every view module) once at start-up; a fresh process
    # does it on its first request, 0.3-0.8 s of CPU that is no part of an export.
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (the property imports them)
    connection.ensure_connection()
    db_pid = backend_pid()
    db_cpu0 = cpu_ns(db_pid)
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
    db_cpu1 = cpu_ns(db_pid) if backend_pid() == db_pid else None
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
    configure(db)
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
    db_pid = backend_pid()
    db_cpu0 = cpu_ns(db_pid)
    app_cpu0 = time.process_time()
    started = time.perf_counter()
    rows = size = 0
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for block in copy:
            rows += bytes(block).count(b"\n")
            size += len(block)
    seconds = time.perf_counter() - started
    app_cpu = time.process_time() - app_cpu0
    db_cpu1 = cpu_ns(db_pid)
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
        [sys.executable, SCALE_SCRIPT, "--db", db, *worker],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"export worker failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


# Each case runs this many times, the rounds interleaved (every case once, then again), and
# the fastest round counts: on a shared machine a single run mostly measures the neighbours.
EXPORT_ROUNDS = 3


def run_export_cases(bench: Bench, args: argparse.Namespace, extra: Extra) -> None:
    """Side by side, in turn per principal: page CSV, API csv, native_json and table_json,
    and the physical limit (COPY of the same columns, masked in SQL for the marketer)."""
    url = f"/projects/{bench.project.token}/customers/export.csv"
    users = {"admin": bench.admin, "marketer": bench.marketer}
    wanted = [w.strip() for w in args.export_as.split(",") if w.strip() in users]
    runs = []
    for who in wanted:
        runs += [
            ("CSV export", who, users[who], url),
            ("API csv export", who, users[who], "API:csv"),
            ("API native_json export", who, users[who], "API:native_json"),
            ("API table_json export", who, users[who], "API:table_json"),
            ("CSV via COPY (limit)", who, users[who], "COPY"),
        ]
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for round_no in range(1, EXPORT_ROUNDS + 1):
        for label, who, user, target in runs:
            out = run_export(args.db, user.username, target)
            out["rate"] = out["rows"] / out["seconds"] if out["seconds"] else 0.0
            print(f"round {round_no}: {label} as {who}: {out['rate']:,.0f} rows/s")
            if (label, who) not in best or out["rate"] > best[(label, who)]["rate"]:
                best[(label, who)] = out
    for label, who, _, _ in runs:
        out = best[(label, who)]
        limit = best[("CSV via COPY (limit)", who)]["rate"]
        extra.append(
            (
                f"{label} as {who}: {out['rows']:,} rows",
                f"{out['rate']:,.0f}/s",
                f"{out['rate'] / limit if limit else 0:.2f}x the limit; best of "
                f"{EXPORT_ROUNDS}: {out['seconds']:.2f} s, peak RSS {out['peak_mb']:.0f} MB, "
                f"CPU {out.get('app_cpu') or 0:.2f} s app + {out.get('db_cpu') or 0:.2f} s "
                "PostgreSQL, "
                f"{out['bytes'] / 1e6:.0f} MB, HTTP {out['status']}, streaming={out['streaming']}",
            )
        )
        print(f"  {extra[-1]}")
