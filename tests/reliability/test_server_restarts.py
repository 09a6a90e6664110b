"""Real server restarts under work: PostgreSQL and Redis stopped and started again while a
Celery worker runs a bulk anonymization and tracking clients stream ``/batch`` requests.

Nothing here touches the machine's shared servers: the module starts a **private**
PostgreSQL cluster (``initdb`` in a temporary folder, on a free loopback port) and a private
``redis-server`` without persistence, and restarts those (tests/reliability/servers.py). The
app runs as it does in production, each part in its own process on the private servers:

- gunicorn (gthread) on the **production settings** (DEBUG off, Redis cache, persistent
  database connections with ``CONN_HEALTH_CHECKS``), answering the tracking clients;
- a Celery worker (tests/customers/worker_settings.py: the production transport settings,
  chunks of 100) with Redis as broker;
- three client threads posting ``/batch`` (two customers, each a property update and an
  event, tagged), each retrying a batch that got 503 until it gets 200, as a client that
  honours ``Retry-After`` does.

What must hold, measured against the private database afterwards
(tests/reliability/scenario.py): every answer is 200 or 503 with ``Retry-After`` in
Exponea's error shape (never a 500, never a dropped socket); every batch is stored exactly
once (a 503 wrote nothing, or its retry would double the events); the app answers 200 again
by itself after the restart; the job finishes ``done`` with each customer anonymized exactly
once. Skips cleanly where ``initdb`` / ``redis-server`` are not installed, and in the SQLite
pass (the suite's own database is not used, so one pass is enough). About a minute.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.scenario import batch_commands
from tests.reliability.servers import HOST, PrivatePostgres, PrivateRedis, free_port

pytestmark = [pytest.mark.celery_worker]

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 3000
TASK = "customers.anonymization_job_run"
SECRET_KEY = "restart-test-secret-key-" + "r" * 40
CLIENTS = 3
JOB_SECONDS = 90  # ample on a loaded 2-core machine; the measured figures are printed
DATABASE_OUTAGE_SECONDS = 2.0
REDIS_OUTAGE_SECONDS = 1.0


# Servers ----------------------------------------------------------------------------------


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    database_url: str
    folder: Path

    @property
    def cache_url(self) -> str:
        return self.redis.url(0)

    @property
    def broker_url(self) -> str:
        return self.redis.url(1)

    def env(self, settings: str, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key
            not in ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_SETTINGS_MODULE")
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": settings,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.cache_url,
                "SECRET_KEY": SECRET_KEY,
                "ERASURE_LEDGER_DIR": str(self.folder / "ledger"),
                "EXPONEA_PII_ENV_FILE": "",
                "PYTHONPATH": str(ROOT),
                **extra,
            }
        )
        return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        # The servers are private, so the suite's database does not matter: run once, in
        # CI's PostgreSQL pass (as the worker-kill tests), not again in the SQLite pass.
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")
    try:
        postgres = PrivatePostgres()
        redis = PrivateRedis()
    except FileNotFoundError as exc:
        pytest.skip(f"a private server cannot be started here: {exc}")
    folder = tmp_path_factory.mktemp("restarts")
    try:
        postgres.init()
        redis.start()
        stack = Stack(postgres, redis, postgres.create_database("restarts"), folder)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=ROOT,
            env=stack.env("exponea_pii.test_settings"),
            check=True,
            timeout=300,
        )
        yield stack
    finally:
        redis.destroy()
        postgres.destroy()


def _scenario(stack: Stack, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.reliability.scenario", *args],
        cwd=ROOT,
        env=stack.env("exponea_pii.test_settings"),
        timeout=300,
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _gunicorn(stack: Stack, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = stack.env(
        "exponea_pii.settings",
        DEBUG="0",
        ALLOWED_HOSTS=HOST,
        SECURE_SSL_REDIRECT="0",
        DB_CONN_MAX_AGE="600",  # connections outlive the restart: health checks must catch it
        API_THROTTLE_TRACK="10000000/min",
        LOG_LEVEL="WARNING",
    )
    process = _spawn(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "exponea_pii.wsgi",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            "2",
            "--threads",
            "2",
            "--worker-class",
            "gthread",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        env,
        log,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited\n{log.read_text()}")
        try:
            _request(port, "GET", "/track/v2/no-such-path", timeout=2)
            return process
        except OSError:
            time.sleep(0.2)
    _stop(process)
    raise AssertionError(f"gunicorn did not start\n{log.read_text()}")


def _request(
    port: int,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    timeout: float = 30,
) -> tuple[int, str | None, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()
    finally:
        conn.close()


@dataclass
class Broker:
    url: str
    queue: str = "celery"


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Broker]:
    """The private Redis, or the machine's RabbitMQ (never restarted here) with a queue of
    this test's own, deleted afterwards."""
    if request.param == "redis":
        yield Broker(stack.broker_url)
        return
    kombu = pytest.importorskip("kombu")
    url = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        with kombu.Connection(url, connect_timeout=2) as conn:
            conn.connect()
    except Exception:
        pytest.skip("RabbitMQ is not reachable")
    queue = f"restart-test-{uuid.uuid4().hex[:8]}"
    yield Broker(url, queue)
    with kombu.Connection(url, connect_timeout=2) as conn:
        conn.default_channel.queue_delete(queue)


def _worker(
    stack: Stack, log: Path, *, broker: Broker | None = None, beat: Path | None = None
) -> subprocess.Popen[bytes]:
    broker = broker or Broker(stack.broker_url)
    env = stack.env(
        "tests.customers.worker_settings",
        CELERY_BROKER_URL=broker.url,
        CELERY_TASK_ALWAYS_EAGER="0",
        TEST_CELERY_QUEUE=broker.queue,
    )
    command = [
        sys.executable, "-m", "celery", "-A", "exponea_pii", "worker", "--pool=solo",
        "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname=restart@%h", f"--queues={broker.queue}",
    ]  # fmt: skip
    if beat is not None:
        command += ["--beat", f"--schedule={beat}"]
    return _spawn(command, env, log)


def _job_row(stack: Stack, job: int) -> tuple[int, str] | None:
    """The job's progress read straight from the private server; None while it is down."""
    import psycopg

    try:
        with psycopg.connect(stack.database_url, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT done, status FROM customers_anonymizationjob WHERE id = %s", [job]
            ).fetchone()
    except psycopg.OperationalError:
        return None
    assert row is not None
    return int(row[0]), str(row[1])


def _wait(predicate: Callable[[], bool], *, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# Tracking clients -------------------------------------------------------------------------


@dataclass
class Attempt:
    tag: str
    at: float
    status: int  # 0: no HTTP answer (socket error)
    retry_after: str | None
    body: Any


@dataclass
class Clients:
    """``CLIENTS`` threads posting tagged batches; a 503 is retried until it gets 200."""

    port: int
    token: str
    basic: str
    attempts: list[Attempt] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for n in range(CLIENTS):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a tracking client hung"

    def _post(self, tag: str) -> Attempt:
        body = json.dumps({"commands": batch_commands(tag)})
        headers = {"Authorization": self.basic, "Content-Type": "application/json"}
        path = f"/track/v2/projects/{self.token}/batch"
        try:
            status, retry_after, raw = _request(self.port, "POST", path, body, headers)
        except OSError as exc:
            return Attempt(tag, time.monotonic(), 0, None, repr(exc))
        try:
            data = json.loads(raw)
        except ValueError:
            data = raw[:200].decode(errors="replace")
        return Attempt(tag, time.monotonic(), status, retry_after, data)

    def _run(self, n: int) -> None:
        k = 0
        while not self.stop.is_set():
            k += 1
            tag = f"c{n}n{k}"
            for _ in range(200):
                attempt = self._post(tag)
                with self.lock:
                    self.attempts.append(attempt)
                if attempt.status == 200:
                    break
                time.sleep(0.1)  # Retry-After says 5 s; a test cannot wait that long
            time.sleep(0.02)

    def statuses(self) -> dict[int, int]:
        with self.lock:
            counts: dict[int, int] = {}
            for attempt in self.attempts:
                counts[attempt.status] = counts.get(attempt.status, 0) + 1
            return counts

    def successes_since(self, moment: float) -> int:
        with self.lock:
            return sum(1 for a in self.attempts if a.status == 200 and a.at > moment)


def _assert_batches_exactly_once(clients: Clients, report: dict[str, Any]) -> None:
    bad = [a for a in clients.attempts if a.status not in (200, 503)]
    assert not bad, f"answers other than 200/503: {[(a.status, a.body) for a in bad[:5]]}"
    for attempt in clients.attempts:
        if attempt.status == 503:
            assert attempt.retry_after == "5", attempt
            assert attempt.body == {
                "success": False,
                "errors": ["Service temporarily unavailable; retry later."],
            }, attempt
        else:
            assert attempt.body["success"] is True, attempt
            assert [r["success"] for r in attempt.body["results"]] == [True] * 4, attempt
    acknowledged = {a.tag for a in clients.attempts if a.status == 200}
    stored = report["tags"]
    assert set(stored) == acknowledged, "a batch stored without a 200, or a 200 not stored"
    wrong = {tag: counts for tag, counts in stored.items() if counts != [2, 2]}
    assert not wrong, f"batches not stored exactly once (IDs, events): {wrong}"


def _assert_job_exactly_once(report: dict[str, Any]) -> None:
    assert (report["status"], report["done"], report["total"], report["error"]) == (
        "done",
        CUSTOMERS,
        CUSTOMERS,
        "",
    ), report
    assert report["not_anonymized"] == 0
    assert report["anonymization_events"] == [[1, CUSTOMERS]]  # one per customer, none twice
    assert report["anonymized_customers"] == CUSTOMERS
    assert report["audit_anonymize"] == CUSTOMERS
    assert (report["registered_left"], report["email_left"], report["ip_left"]) == (0, 0, 0)


# Tests ------------------------------------------------------------------------------------


def test_postgresql_restart_mid_job_and_mid_batch(
    stack: Stack, broker: Broker, tmp_path: Path
) -> None:
    """``pg_ctl stop -m fast`` (what a service restart does: every session terminated, open
    transactions rolled back), two seconds down, then started again; with either broker."""
    from celery import Celery

    seeded = _scenario(stack, "seed", "--customers", str(CUSTOMERS))
    port = free_port()
    log = tmp_path / "processes.log"
    web = _gunicorn(stack, port, log)
    worker = None
    clients = Clients(port, seeded["token"], seeded["basic"])
    try:
        # No beat: the job must survive on the task's own retries.
        worker = _worker(stack, log, broker=broker)
        clients.start()
        _wait(lambda: clients.successes_since(0) >= 5, timeout=30, what="tracking to flow")
        sender = Celery("restart-test", broker=broker.url, set_as_current=False)
        sender.send_task(TASK, args=[seeded["job"]], queue=broker.queue)

        def mid_job() -> bool:
            row = _job_row(stack, seeded["job"])
            assert worker is not None and worker.poll() is None, log.read_text()
            return row is not None and row[0] >= CUSTOMERS * 0.3

        _wait(mid_job, timeout=JOB_SECONDS, what="30% of the job")
        before = _job_row(stack, seeded["job"])
        assert before is not None and before[1] == "running" and before[0] < CUSTOMERS

        stopped_at = time.monotonic()
        stack.postgres.stop("fast")
        time.sleep(DATABASE_OUTAGE_SECONDS)
        stack.postgres.start()
        up_at = time.monotonic()

        reconnected = _wait(
            lambda: clients.successes_since(up_at) >= 1, timeout=30, what="a 200 after the restart"
        )

        def finished() -> bool:
            row = _job_row(stack, seeded["job"])
            return row is not None and row[1] in ("done", "failed")

        job_after = _wait(finished, timeout=JOB_SECONDS, what="the job to finish")
        _wait(
            lambda: clients.successes_since(up_at) >= 10, timeout=30, what="tracking to flow again"
        )
    finally:
        clients.join()
        _stop(worker)
        _stop(web)

    during = [a for a in clients.attempts if stopped_at <= a.at <= up_at + reconnected]
    print(
        f"postgres restart ({broker.url.split(':')[0]}) at {before[0]}/{CUSTOMERS}: down {up_at - stopped_at:.1f}s; "
        f"first 200 {reconnected:.2f}s after it was up; job done {job_after:.1f}s after it was "
        f"up; answers {clients.statuses()}, {sum(a.status == 503 for a in during)} x 503 "
        "during the outage"
    )
    assert any(a.status == 503 for a in clients.attempts), "no request met the outage"
    report = _scenario(stack, "check", "--job", str(seeded["job"]), "--token", seeded["token"])
    _assert_batches_exactly_once(clients, report)
    _assert_job_exactly_once(report)


def test_redis_restart_mid_job_and_mid_batch(stack: Stack, tmp_path: Path) -> None:
    """Redis (broker and cache) stopped and started again, empty: the job's message in
    flight is lost with it, and the watchdog (Celery beat, embedded in the worker) sends the
    job again once its heartbeat is ``ANONYMIZATION_JOB_STALL_SECONDS`` (20 s) old. Tracking
    never notices: the cache is skipped while Redis is away."""
    from celery import Celery

    seeded = _scenario(stack, "seed", "--customers", str(CUSTOMERS))
    port = free_port()
    log = tmp_path / "processes.log"
    web = _gunicorn(stack, port, log)
    worker = None
    clients = Clients(port, seeded["token"], seeded["basic"])
    try:
        worker = _worker(stack, log, beat=tmp_path / "beat-schedule")
        clients.start()
        _wait(lambda: clients.successes_since(0) >= 5, timeout=30, what="tracking to flow")
        Celery("restart-test", broker=stack.broker_url, set_as_current=False).send_task(
            TASK, args=[seeded["job"]]
        )

        def mid_job() -> bool:
            row = _job_row(stack, seeded["job"])
            assert worker is not None and worker.poll() is None, log.read_text()
            return row is not None and row[0] >= CUSTOMERS * 0.3

        _wait(mid_job, timeout=JOB_SECONDS, what="30% of the job")
        before = _job_row(stack, seeded["job"])
        assert before is not None and before[1] == "running" and before[0] < CUSTOMERS

        stopped_at = time.monotonic()
        stack.redis.stop()
        time.sleep(REDIS_OUTAGE_SECONDS)
        stack.redis.start()
        up_at = time.monotonic()

        def finished() -> bool:
            row = _job_row(stack, seeded["job"])
            assert worker is not None and worker.poll() is None, log.read_text()
            return row is not None and row[1] in ("done", "failed")

        job_after = _wait(finished, timeout=JOB_SECONDS, what="the job to finish")
        _wait(lambda: clients.successes_since(up_at) >= 10, timeout=30, what="tracking after")
    finally:
        clients.join()
        _stop(worker)
        _stop(web)

    print(
        f"redis restart at {before[0]}/{CUSTOMERS}: down {up_at - stopped_at:.1f}s; "
        f"job done {job_after:.1f}s after it was up; answers {clients.statuses()}"
    )
    report = _scenario(stack, "check", "--job", str(seeded["job"]), "--token", seeded["token"])
    assert clients.statuses().keys() == {200}, "tracking must not notice Redis restarting"
    _assert_batches_exactly_once(clients, report)
    _assert_job_exactly_once(report)
