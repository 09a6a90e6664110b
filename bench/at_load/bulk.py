"""``bench/load.py --bulk-job``: bulk anonymizations requested through the API while the
load runs, a Celery worker (production settings) running them, and the integrity check of
every job customer afterwards."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.common import PG, PYTHON, ROOT, percentile

from .http_client import http


@dataclass
class Bulk:
    reserved: list[tuple[int, str]]
    size: int
    every: float
    requested: list[str] = field(default_factory=list)  # bulk_ids
    customers: list[int] = field(default_factory=list)  # internal ids of requested customers
    errors: list[str] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # final status per bulk_id
    findings: dict[str, int] = field(default_factory=dict)
    worker_cpu_during_load: float = 0.0
    worker_cpu_total: float = 0.0
    drain_seconds: float = 0.0


def _full_key(seeded: dict[str, Any]) -> str:
    key = next(k for k in seeded["api_keys"] if "anonymize_customers" in k["permissions"])
    return "Basic " + base64.b64encode(f"{key['key_id']}:{key['secret']}".encode()).decode()


async def request_bulk_jobs(
    args: argparse.Namespace, port: int, seeded: dict[str, Any], clock: dict[str, float], bulk: Bulk
) -> None:
    """Every ``bulk.every`` seconds of the run, one bulk anonymization through the API."""
    headers = {"Authorization": _full_key(seeded), "Content-Type": "application/json"}
    path = f"/data/v2/projects/{seeded['project_token']}/customers/anonymize_bulk"
    offset = 0
    while time.monotonic() < clock["deadline"] and offset < len(bulk.reserved):
        part = bulk.reserved[offset : offset + bulk.size]
        offset += bulk.size
        body = {"customers": [{"customer_ids": {"registered": email}} for _, email in part]}
        try:
            answer = await http(port, "POST", path, headers=headers, body=json.dumps(body).encode())
            if answer.status != 200:
                bulk.errors.append(f"{answer.status} anonymize_bulk")
            else:
                bulk.requested.append(json.loads(answer.body)["bulk_id"])
                bulk.customers += [pk for pk, _ in part]
        except Exception as exc:
            bulk.errors.append(f"{type(exc).__name__} anonymize_bulk")
        await asyncio.sleep(max(0.0, min(bulk.every, clock["deadline"] - time.monotonic())))


async def finish_bulk_jobs(
    args: argparse.Namespace, port: int, seeded: dict[str, Any], bulk: Bulk, timeout: float = 300
) -> None:
    """Wait for every requested job to end, then check what it left behind."""
    headers = {"Authorization": _full_key(seeded)}
    base = f"/data/v2/projects/{seeded['project_token']}/customers/anonymize_bulk/"
    started = time.monotonic()
    pending = list(bulk.requested)
    while pending and time.monotonic() - started < timeout:
        still = []
        for bulk_id in pending:
            answer = await http(port, "GET", base + bulk_id, headers=headers)
            status = json.loads(answer.body) if answer.status == 200 else {"status": answer.status}
            if status.get("status") in ("done", "failed") or answer.status != 200:
                bulk.jobs[bulk_id] = status
            else:
                still.append(bulk_id)
        pending = still
        if pending:
            await asyncio.sleep(1.0)
    bulk.drain_seconds = time.monotonic() - started
    for bulk_id in pending:
        bulk.errors.append(f"job {bulk_id} not finished {timeout:.0f}s after the load")
    for bulk_id, status in bulk.jobs.items():
        if status.get("status") != "done" or status.get("error"):
            bulk.errors.append(f"job {bulk_id}: {status.get('status')} {status.get('error', '')}")
    bulk.findings = await asyncio.to_thread(integrity_findings, args.database, bulk.customers)


PII_PROPERTIES = ["email", "phone", "first_name", "last_name", "birth_date"]
PII_EVENT_ATTRIBUTES = ["ip", "shipping_address", "card_last4"]


def integrity_findings(database: str, customers: list[int]) -> dict[str, int]:
    """What a finished job may not leave on its customers (seed_demo's PII flags)."""
    with psycopg.connect(f"{PG}/{database}") as conn:

        def count(sql: str, *params: Any) -> int:
            row = conn.execute(sql, [customers, *params]).fetchone()
            return int(row[0]) if row else 0

        return {
            "not anonymized": count(
                "SELECT count(*) FROM customers_customer WHERE id = ANY(%s) "
                "AND anonymized_at IS NULL"
            ),
            "anonymized not exactly once": count(
                "SELECT count(*) FROM (SELECT c.id FROM customers_customer c "
                "LEFT JOIN customers_event e ON e.customer_id = c.id AND e.event_type_id IN "
                "(SELECT id FROM datamanager_eventtype WHERE name = 'anonymization') "
                "WHERE c.id = ANY(%s) GROUP BY c.id HAVING count(e.id) <> 1) AS bad"
            ),
            "registered ID left": count(
                "SELECT count(*) FROM customers_customerid WHERE customer_id = ANY(%s) "
                "AND name = 'registered'"
            ),
            "PII property left": count(
                "SELECT count(*) FROM customers_customer WHERE id = ANY(%s) AND properties ?| %s",
                PII_PROPERTIES,
            ),
            "PII event attribute left": count(
                "SELECT count(*) FROM customers_event WHERE customer_id = ANY(%s) "
                "AND properties ?| %s",
                PII_EVENT_ATTRIBUTES,
            ),
        }


def bulk_report(bulk: Bulk) -> str:
    durations = [
        s["finished_at"] - s["created_at"]
        for s in bulk.jobs.values()
        if s.get("finished_at") and s.get("created_at")
    ]
    findings = sum(bulk.findings.values())
    lines = [
        f"bulk anonymization alongside: {len(bulk.requested)} jobs of up to {bulk.size} customers "
        f"(one every {bulk.every:.0f} s), {len(bulk.customers)} customers; "
        f"{sum(1 for s in bulk.jobs.values() if s.get('status') == 'done')} done; "
        f"errors {len(bulk.errors)}" + (f" ({'; '.join(bulk.errors[:5])})" if bulk.errors else ""),
        f"job time from request to done: p50 {percentile(durations, 50):.1f} s, "
        f"p95 {percentile(durations, 95):.1f} s, max {max(durations, default=0):.1f} s; "
        f"last jobs drained {bulk.drain_seconds:.1f} s after the load",
        f"Celery worker CPU: {bulk.worker_cpu_during_load:.1f} s during the load, "
        f"{bulk.worker_cpu_total:.1f} s in all "
        f"({bulk.worker_cpu_total / max(len(bulk.customers), 1) * 1000:.1f} ms per customer)",
        f"integrity findings: {findings}"
        + (f" ({bulk.findings})" if findings else " (anonymized exactly once, nothing left)"),
    ]
    return "\n".join(lines)


def start_worker(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    """A Celery worker with the watchdog's beat embedded, as the production guide runs it."""
    log = (folder / "worker.log").open("ab")
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "exponea_pii",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--beat",
            f"--schedule={folder / 'beat-schedule'}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
