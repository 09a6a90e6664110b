"""Where a ``/batch`` request's server CPU goes: an in-process loop, no network, no clients.

Creates its own database (``bench_ingest_profile`` by default), migrates it, seeds a
project and a ``track`` key, and sends ``POST /track/v2/projects/{token}/batch`` requests
of 50 ``customers/events`` commands (existing customers, as ``bench/ingest.py`` does once
warm) straight into Django's ``WSGIHandler``: the production settings and middleware,
PostgreSQL and the Redis throttle, the request's body parsing, authentication, response
rendering. It reports the Python CPU per batch (``time.process_time()``), the PostgreSQL
backend's CPU per batch (``/proc``) and the statements per batch, and with ``--profile``
the cProfile table of the timed loop.

    .venv/bin/python bench/ingest_profile.py --batches 300            # CPU per batch
    .venv/bin/python bench/ingest_profile.py --batches 300 --profile  # + where it goes
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402  (the repository is on sys.path from here)
    create_database,
    drop_database,
    production_env,
)
from bench.ingest import make_body  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--customers", type=int, default=500, help="customer pool")
    parser.add_argument("--db", default="bench_ingest_profile")
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--profile", action="store_true", help="print the cProfile table")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    os.environ.update(production_env(args.db, args.redis_db))
    os.chdir(ROOT)
    create_database(args.db, replace=True)
    import django

    django.setup()
    import psycopg
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from access.selectors import principal_for_system
    from access.services import api_key_create, project_create

    call_command("migrate", verbosity=0, interactive=False)
    project = project_create(name="Bench", created_by="bench")
    key, secret = api_key_create(
        actor=principal_for_system(project), name="Bench", permissions=["track"]
    )
    auth = "Basic " + base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    path = f"/track/v2/projects/{project.token}/batch"
    app = get_wsgi_application()
    rng = random.Random(1)
    bodies = [make_body(rng, 0, args.customers) for _ in range(64)]

    def post(body: bytes) -> bytes:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": auth,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc: Any = None) -> Any:
            statuses.append(status)

        chunks = app(environ, start_response)
        out = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{statuses[0]}: {out[:500]!r}")
        return out

    # Warm-up: every customer of the pool created, the catalog known, statements prepared.
    for i in range(max(40, args.customers // 10)):
        post(bodies[i % len(bodies)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    # Every statement the request sends, Django's and the raw psycopg cursors' alike (and
    # the connection health check's SELECT 1): counted on psycopg's cursor.
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counting(self: Any, query: Any, *a: Any, **kw: Any) -> Any:
        sent.append(str(query if isinstance(query, str | bytes) else query.as_string(self)))
        return execute(self, query, *a, **kw)

    psycopg.Cursor.execute = counting  # type: ignore[method-assign]
    post(bodies[0])
    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    statements = len(sent)

    # CPU time, not wall: waiting for PostgreSQL is not the Python cost.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    db_before = _backend_cpu(backend)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(args.batches):
        post(bodies[i % len(bodies)])
    if profiler:
        profiler.disable()
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    db_cpu = _backend_cpu(backend) - db_before
    n = args.batches
    print(
        f"batches={n} python_cpu_ms_per_batch={cpu / n * 1000:.2f} "
        f"postgres_cpu_ms_per_batch={db_cpu / n * 1000:.2f} "
        f"wall_ms_per_batch={wall / n * 1000:.2f} statements_per_batch={statements} "
        f"load={os.getloadavg()[0]:.1f}"
    )
    print("statements:", json.dumps([q[:100] for q in sent], indent=1))
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    connection.close()
    if not args.keep:
        drop_database(args.db)


if __name__ == "__main__":
    main()
