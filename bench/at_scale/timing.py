"""Timing one request of bench/scale.py: wall and CPU time, query counts, the table."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any


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


# Rows of the second table: (measure, value, note).
Extra = list[tuple[str, str, str]]


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def backend_pid() -> int | None:
    from django.db import connection

    raw = connection.connection
    return raw.info.backend_pid if raw is not None else None


def cpu_ns(pid: int | None) -> int | None:
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
        pid = backend_pid()
        db0 = cpu_ns(pid)
        app0 = time.thread_time_ns()
        started = time.perf_counter()
        response = client.get(url)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        elapsed = (time.perf_counter() - started) * 1000
        app = time.thread_time_ns() - app0
        db1 = cpu_ns(pid) if backend_pid() == pid else None
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


def count_queries(client: Any, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    return len(ctx.captured_queries)


def print_table(results: list[Result], extra: Extra) -> None:
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
