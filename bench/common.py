"""What every benchmark needs: a database of its own, a production-like server, a timer.

A benchmark runs as a script (``.venv/bin/python bench/<name>.py``); it puts the
repository on ``sys.path`` and imports these helpers as ``bench.common``. Each bench's
smallest run is part of the test suite (tests/test_bench_smoke.py), so a refactor that
breaks one fails there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
# The PostgreSQL server the benches create their databases on (trust auth, user root).
PG = os.environ.get("BENCH_POSTGRES", "postgres://root@127.0.0.1:5432")
HOST = "127.0.0.1"
# Databases a bench must never create, drop or fill (CI's and the server's own).
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1", "test", "root"})


def database_url(name: str) -> str:
    return f"{PG}/{name}"


def _check_name(name: str) -> None:
    if name in RESERVED_DATABASES or not name.replace("_", "").isalnum():
        raise SystemExit(f"use a database of the benchmark's own, not {name!r}")


def create_database(name: str, *, replace: bool = False) -> bool:
    """Create database ``name`` (dropped first when ``replace``); True if it was created.

    With ``BENCH_TEMPLATE_DATABASE`` set (the smoke tests migrate one database once), the
    new database is a copy of it, so the bench's own ``migrate`` has nothing left to do.
    """
    import psycopg

    _check_name(name)
    template = os.environ.get("BENCH_TEMPLATE_DATABASE")
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        if replace:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        if template:
            _check_name(template)
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
        return True


def drop_database(name: str) -> None:
    import psycopg

    _check_name(name)
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def production_env(database: str, redis_db: int, **overrides: str) -> dict[str, str]:
    """The environment of a server on the production settings, against ``database``.

    The per-key throttles still run (a cache round trip per request) but do not limit: a
    bench's clients share one key where production scripts have a key each.
    """
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "exponea_pii.settings",
            "DATABASE_URL": database_url(database),
            "REDIS_URL": f"redis://{HOST}:6379/{redis_db}",
            "SECRET_KEY": "bench-only-secret-key-" + "b" * 40,
            "DEBUG": "0",
            "ALLOWED_HOSTS": f"{HOST},localhost",
            # The clients speak plain HTTP on the loopback; everything else as production.
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "DB_CONN_MAX_AGE": "600",
            "API_THROTTLE_TRACK": "10000000/min",
            "API_THROTTLE_DATA": "10000000/min",
        }
    )
    env.update(overrides)
    env.pop("CELERY_BROKER_URL", None)
    return env


def start_gunicorn(
    env: dict[str, str],
    port: int,
    *,
    workers: int,
    threads: int,
    extra: Sequence[str] = (),
    host: str = HOST,
    timeout: float = 30.0,
) -> subprocess.Popen[bytes]:
    """gunicorn (gthread) on ``host:port`` in its own process group, once it accepts.

    Stop it with ``os.killpg(proc.pid, signal.SIGTERM)``.
    """
    proc = subprocess.Popen(
        [
            GUNICORN,
            "exponea_pii.wsgi",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


@dataclass
class Timing:
    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    """``with timed() as t: ...`` then ``t.seconds`` (wall clock, ``perf_counter``)."""
    timing = Timing()
    started = time.perf_counter()
    try:
        yield timing
    finally:
        timing.seconds = time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]
