"""A real Celery worker, killed with SIGKILL in the middle of a job: nothing is lost or doubled,
and the job finishes within a minute — with each broker's **production** transport settings.

- RabbitMQ (``amqp://guest:guest@127.0.0.1:5672//``, or ``TEST_RABBITMQ_URL``): the killed
  worker's unacknowledged message is redelivered as soon as its connection drops.
- Redis (a DB index of its own, ``ANONYMIZATION_TEST_REDIS_DB``, default 11, flushed before
  and after): the message would come back only after the 3600 s visibility timeout; the
  job watchdog (Celery beat, embedded in the worker with ``-B``) re-enqueues the job once
  its heartbeat is older than ``ANONYMIZATION_JOB_STALL_SECONDS``.

Runs only on PostgreSQL with the broker reachable (CI: DATABASE_URL=postgres://…); it skips
cleanly otherwise. The worker subprocess uses the test database itself (hence
``transactional_db``: the data must be committed for another process to see it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.db.models import Count

from access.models import AuditEvent
from customers.models import Customer, CustomerId, Event
from customers.services import anonymization_job_create
from datamanager.models import EventType
from datamanager.services import catalog_register_seen, pii_flags_set
from tests import factories

pytestmark = [pytest.mark.celery_worker]

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 3000
TASK = "customers.anonymization_job_run"
RECOVERY_SECONDS = 60


def _redis_url() -> str:
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    db = os.environ.get("ANONYMIZATION_TEST_REDIS_DB", "11")
    return urlunsplit((base.scheme, base.netloc, f"/{db}", "", ""))


@pytest.fixture
def redis_client() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(_redis_url(), socket_connect_timeout=1)
    try:
        client.ping()
    except Exception:
        pytest.skip("Redis is not reachable")
    client.flushdb()
    yield client
    client.flushdb()


def _rabbitmq_url() -> str:
    return os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def rabbitmq_queue() -> Any:
    """A queue name of this test's own on RabbitMQ, deleted afterwards."""
    kombu = pytest.importorskip("kombu")
    name = f"kill-test-{uuid.uuid4().hex[:8]}"
    try:
        with kombu.Connection(_rabbitmq_url(), connect_timeout=2) as conn:
            conn.connect()
    except Exception:
        pytest.skip("RabbitMQ is not reachable")
    yield name
    with kombu.Connection(_rabbitmq_url(), connect_timeout=2) as conn:
        conn.default_channel.queue_delete(name)


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _start_worker(
    name: str, log: Path, *, broker: str, queue: str = "celery", beat: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.customers.worker_settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "TEST_CELERY_QUEUE": queue,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONPATH": str(ROOT),
    }
    if broker.startswith("redis"):
        env["REDIS_URL"] = broker
    command = [
        sys.executable, "-m", "celery", "-A", "exponea_pii", "worker", "--pool=solo",
        "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
        f"--hostname={name}@%h", f"--queues={queue}",
    ]  # fmt: skip
    if beat is not None:
        # The watchdog's schedule, embedded: killing the worker kills its beat too, and the
        # second worker brings its own, as a restarted deployment would.
        command += ["--beat", f"--schedule={beat}"]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _seed(project: Any) -> list[int]:
    """A few thousand customers with PII properties, IDs and events, inserted in bulk."""
    actor = factories.system(project)
    catalog_register_seen(
        project=project,
        customer_properties={"email": "a@b.c", "phone": "+1", "plan": "free"},
        events={"page_visit": {"url": "/", "ip": "1.2.3.4"}},
    )
    pii_flags_set(
        actor=actor,
        customer_attributes={"registered": True, "email": True, "phone": True},
        event_attributes={("page_visit", "ip"): True},
    )
    customers = Customer.objects.bulk_create(
        [
            Customer(
                project=project,
                properties={
                    "email": f"kill{i}@leak.test",
                    "phone": f"+421 555 {i:06d}",
                    "plan": "free",
                },
            )
            for i in range(CUSTOMERS)
        ],
        batch_size=1000,
    )
    CustomerId.objects.bulk_create(
        [
            CustomerId(project=project, customer=c, name="registered", value=f"kill{i}@leak.test")
            for i, c in enumerate(customers)
        ],
        batch_size=1000,
    )
    visit = EventType.objects.get(project=project, name="page_visit")
    Event.objects.bulk_create(
        [
            Event(
                project=project,
                customer=c,
                event_type=visit,
                timestamp="2026-01-01T00:00:00Z",
                properties={"url": "/", "ip": f"10.0.{i % 250}.{i % 200}"},
            )
            for i, c in enumerate(customers)
        ],
        batch_size=1000,
    )
    return [c.pk for c in customers]


def _wait(predicate: Any, *, timeout: float, what: str, workers: list[Any]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for worker in workers:
            assert worker.poll() is None, f"the worker exited while waiting for {what}"
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_on_redis_job_resumed_by_the_watchdog(
    transactional_db: Any, redis_client: Any, tmp_path: Path
) -> None:
    _kill_mid_job_and_finish(broker=_redis_url(), queue="celery", tmp_path=tmp_path)
    # Messages carried the job id only: no e-mail address is left anywhere in the broker.
    for key in redis_client.scan_iter():
        assert b"leak.test" not in _redis_value(redis_client, key), key


def test_killed_worker_on_rabbitmq_message_redelivered_at_once(
    transactional_db: Any, rabbitmq_queue: str, tmp_path: Path
) -> None:
    _kill_mid_job_and_finish(broker=_rabbitmq_url(), queue=rabbitmq_queue, tmp_path=tmp_path)


def _kill_mid_job_and_finish(*, broker: str, queue: str, tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    from celery import Celery
    from django.conf import settings

    project = factories.make_project("Kill shop")
    pks = _seed(project)
    job = anonymization_job_create(
        actor=factories.system(project), source="cli", customers=pks, start=False
    )
    assert job.total == CUSTOMERS

    # The sender speaks to the broker exactly as the web process would in production.
    # Not the current app: shared tasks of later tests must keep resolving to the project's
    # (eager in tests) app, not to this sender (which would queue them on the broker).
    sender = Celery("kill-test", broker=broker, set_as_current=False)
    if broker.startswith("redis"):
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS == {"visibility_timeout": 3600}
        sender.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    else:
        sender.conf.broker_transport_options = {"confirm_publish": True}
    log = tmp_path / "worker.log"
    first = _start_worker("first", log, broker=broker, queue=queue, beat=tmp_path / "beat-1")
    second = None
    try:
        sender.send_task(TASK, args=[job.pk], queue=queue)

        def progressed() -> bool:
            job.refresh_from_db()
            return job.done >= CUSTOMERS // 10

        _wait(progressed, timeout=60, what="the first chunks", workers=[first])
        _kill(first)
        job.refresh_from_db()
        done_at_kill = job.done
        assert job.status == "running" and 0 < done_at_kill < CUSTOMERS, (
            f"not killed mid-job: {done_at_kill}/{CUSTOMERS}\n{log.read_text()}"
        )
        # Nothing is half-done: every customer is either fully anonymized or untouched.
        anonymized = Customer.objects.filter(project=project, anonymized_at__isnull=False).count()
        assert anonymized == done_at_kill
        assert CustomerId.objects.filter(project=project, name="registered").count() == (
            CUSTOMERS - anonymized
        )

        killed_at = time.monotonic()
        second = _start_worker("second", log, broker=broker, queue=queue, beat=tmp_path / "beat-2")

        def finished() -> bool:
            job.refresh_from_db()
            return job.status in ("done", "failed")

        _wait(finished, timeout=RECOVERY_SECONDS, what="the job to finish", workers=[second])
        print(
            f"{broker.split(':')[0]}: killed at {done_at_kill}/{CUSTOMERS}; "
            f"finished {time.monotonic() - killed_at:.1f}s later"
        )
    finally:
        _kill(first)
        if second is not None:
            _kill(second)

    assert (job.status, job.done, job.error) == ("done", CUSTOMERS, ""), log.read_text()
    assert not Customer.objects.filter(project=project, anonymized_at__isnull=True).exists()
    per_customer = (
        Event.objects.filter(project=project, event_type__name="anonymization")
        .values("customer_id")
        .annotate(n=Count("id"))
    )
    assert len(per_customer) == CUSTOMERS
    assert {row["n"] for row in per_customer} == {1}
    assert (
        AuditEvent.objects.filter(project=project, action="customer.anonymize").count() == CUSTOMERS
    )
    assert not CustomerId.objects.filter(project=project, name="registered").exists()
    assert CustomerId.objects.filter(project=project, name="cookie").count() == CUSTOMERS
    assert not Customer.objects.filter(project=project, properties__has_key="email").exists()
    assert not Event.objects.filter(project=project, properties__has_key="ip").exists()


def _redis_value(client: Any, key: bytes) -> bytes:
    """Every byte a key holds, whatever its type (DUMP would compress)."""
    kind = client.type(key).decode()
    if kind == "string":
        parts = [client.get(key) or b""]
    elif kind == "list":
        parts = client.lrange(key, 0, -1)
    elif kind == "hash":
        parts = [b for pair in client.hgetall(key).items() for b in pair]
    elif kind == "set":
        parts = list(client.smembers(key))
    elif kind == "zset":
        parts = [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
    else:
        parts = []
    return key + b"".join(parts)


def test_database_connections_dropped_mid_job_job_resumes_and_finishes_once(
    transactional_db: Any, redis_client: Any, tmp_path: Path
) -> None:
    """A PostgreSQL restart as the worker sees it: every connection to the database is
    terminated by the server (``pg_terminate_backend``), three times during the job. The
    shared server itself is not restarted: other test runs use it."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database, which needs PostgreSQL")
    from celery import Celery

    project = factories.make_project("Restart shop")
    pks = _seed(project)
    job = anonymization_job_create(
        actor=factories.system(project), source="cli", customers=pks, start=False
    )
    sender = Celery("restart-test", broker=_redis_url(), set_as_current=False)
    log = tmp_path / "worker.log"
    # No beat: the job must survive on the task's own retries, not on the watchdog.
    worker = _start_worker("restart", log, broker=_redis_url())
    started = time.monotonic()
    kills = 0
    try:
        sender.send_task(TASK, args=[job.pk])
        for fraction in (0.1, 0.3, 0.5):

            def reached(target: float = fraction) -> bool:
                job.refresh_from_db()
                return job.done >= CUSTOMERS * target or job.status in ("done", "failed")

            _wait(reached, timeout=60, what=f"{fraction:.0%} of the job", workers=[worker])
            job.refresh_from_db()
            assert job.status == "running", f"the job was not mid-way: {job.status}"

            def terminated() -> bool:
                # The worker may be between connections (reconnecting after the last drop).
                nonlocal kills
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                    n = cursor.fetchone()[0]
                kills += n
                return n > 0

            _wait(terminated, timeout=30, what="a worker connection", workers=[worker])

        def finished() -> bool:
            job.refresh_from_db()
            return job.status in ("done", "failed")

        _wait(finished, timeout=RECOVERY_SECONDS, what="the job to finish", workers=[worker])
        print(f"{kills} worker connections terminated; job done {time.monotonic() - started:.1f}s")
    finally:
        _kill(worker)
    assert kills >= 3, "the worker's connections were not terminated"
    assert (job.status, job.done, job.error) == ("done", CUSTOMERS, ""), log.read_text()
    per_customer = (
        Event.objects.filter(project=project, event_type__name="anonymization")
        .values("customer_id")
        .annotate(n=Count("id"))
    )
    assert len(per_customer) == CUSTOMERS
    assert {row["n"] for row in per_customer} == {1}
    assert not CustomerId.objects.filter(project=project, name="registered").exists()
