"""Every benchmark in bench/ runs at its smallest size, so a refactor cannot silently break one.

Each bench runs as its own script in a subprocess, as a person would run it, against
databases of its own on the PostgreSQL server the benches use (bench.common.PG) — never
this test run's database. One migrated template database is made per session and each
bench's database is a copy of it (``BENCH_TEMPLATE_DATABASE``), so the benches skip most
of their migrations. Skipped when that server cannot be reached, and in a PostgreSQL run
of the suite (the results do not depend on it; ``BENCH_SMOKE=1`` forces them). The numbers printed are
meaningless at this size; what is checked is that the bench ran to its end and printed
its table. bench/mutation.py (minutes of mutmut per target) is only started with --help.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest

from bench import common

pytestmark = pytest.mark.bench

# A bench's smoke run may take this long on a loaded machine before it counts as hung.
TIMEOUT_SECONDS = 240


def _postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(common.database_url("postgres"), connect_timeout=3):
            return True
    except Exception:
        return False


def _redis_db() -> int:
    path = urlparse(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")).path
    return int(path.strip("/") or 0)


@dataclass(frozen=True)
class Smoke:
    script: str
    args: tuple[str, ...]
    expect: str  # printed at the end of a complete run
    database_flag: str | None = None  # the bench names its database with this flag
    database_env: bool = False  # the bench takes its database from DATABASE_URL
    precreate: bool = False  # the bench expects the database to exist


SMOKES = {
    "access_log": Smoke("access_log.py", ("--customers", "3", "--rounds", "2"), "| list |"),
    "anonymize": Smoke(
        "anonymize.py",
        ("--customers", "20", "--events", "2", "--chunk-size", "7"),
        "ratio service / raw SQL throughput",
        database_env=True,
    ),
    "ingest": Smoke(
        "ingest.py",
        ("--clients", "1", "--seconds", "1", "--warmup", "0.2", "--workers", "1"),
        "| API / COPY |",
        database_flag="--db",
    ),
    "ingest_profile": Smoke(
        "ingest_profile.py",
        ("--batches", "3", "--customers", "5"),
        "statements_per_batch=",
        database_flag="--db",
    ),
    "load": Smoke(
        "load.py",
        (
            "--users",
            "2",
            "--duration",
            "1",
            "--customers",
            "5",
            "--workers",
            "1",
            "--bulk-job",
            "--bulk-size",
            "2",
        ),
        "integrity findings: 0",
        database_flag="--database",
    ),
    "scale": Smoke(
        "scale.py",
        (
            "--customers",
            "20",
            "--events-per-customer",
            "1",
            "--requests",
            "1",
            "--admin-requests",
            "1",
        ),
        "queries per request",
        database_flag="--db",
        precreate=True,
    ),
    "soak_concurrency": Smoke(
        "soak_concurrency.py",
        ("--seconds", "1", "--trackers", "1", "--people", "4"),
        "integrity findings: 0",
        database_env=True,
        precreate=True,
    ),
    "mutation": Smoke("mutation.py", ("--help",), "usage:"),
    # Runs the four benches above one after the other; each has its own smoke run.
    "issue14": Smoke("issue14.py", ("--help",), "usage:"),
    "personal_data_export": Smoke("personal_data_export.py", ("--events", "5,10"), "CPU time"),
}


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    if os.environ.get("DATABASE_URL", "").startswith("postgres") and not os.environ.get(
        "BENCH_SMOKE"
    ):
        # The benches never use this run's database, so CI's PostgreSQL pass would only
        # repeat the SQLite pass's runs (set BENCH_SMOKE=1 to run them anyway).
        pytest.skip("bench smoke runs once, in the SQLite pass")
    if not _postgres_reachable():
        pytest.skip(f"the benches' PostgreSQL ({common.PG}) is not reachable")
    name = f"smoke_template_{os.getpid()}"
    common.create_database(name, replace=True)
    env = {**os.environ, "DATABASE_URL": common.database_url(name)}
    env["DJANGO_SETTINGS_MODULE"] = "exponea_pii.test_settings"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=common.ROOT,
        env=env,
        check=True,
        timeout=TIMEOUT_SECONDS,
    )
    try:
        yield name
    finally:
        common.drop_database(name)


def test_every_bench_has_a_smoke_run() -> None:
    scripts = {p.name for p in (common.ROOT / "bench").glob("*.py")}
    scripts -= {"__init__.py", "common.py"}
    assert scripts == {s.script for s in SMOKES.values()}


@pytest.mark.parametrize("name", list(SMOKES))
def test_the_bench_runs_at_its_smallest_size(name: str, template_database: str) -> None:
    smoke = SMOKES[name]
    database = f"smoke_{name}_{os.getpid()}"
    args = [sys.executable, str(common.ROOT / "bench" / smoke.script), *smoke.args]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.pop("DATABASE_URL", None)  # never this run's database (access_log: in-memory SQLite)
    env["BENCH_TEMPLATE_DATABASE"] = template_database
    if smoke.database_flag:
        args += [smoke.database_flag, database]
        if name in {"ingest", "load"}:
            args += ["--redis-db", str(_redis_db())]
    if smoke.database_env:
        env["DATABASE_URL"] = common.database_url(database)
    if smoke.precreate:
        common.create_database(database, replace=True)
    started = time.monotonic()
    try:
        result = subprocess.run(
            args,
            cwd=common.ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    finally:
        if smoke.database_flag or smoke.database_env:
            common.drop_database(database)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert smoke.expect in output, output[-3000:]
    print(f"{name}: {time.monotonic() - started:.1f} s")
