"""Every issue-14 ratio in one run: ingest, exports, anonymization, filter and profile.

    .venv/bin/python bench/issue14.py --out issue14-results

Runs the four benchmarks one after the other, each against its physical limit inside its
own run, and prints one Markdown table of what they measured, with the goal of each row:

- ``bench/ingest.py``: HTTP ``/batch`` against ``COPY`` of the same rows;
- ``bench/scale.py`` export cases on ``--export-customers`` customers: every export path,
  as admin and as marketer, against ``COPY`` of the same (masked) columns, and peak memory;
- ``bench/anonymize.py``: the bulk job against hand-written set-based SQL;
- ``bench/scale.py`` at ``--customers`` (1 M by default): the customer filter (indexed
  attributes, any attribute, searchable attributes, every condition kind) and the profile
  of a customer with 10,000 events.

Each benchmark's own output is kept in ``--out`` (one file per step), so the table can be
checked against what was printed. The machine's load average is read before and after
each step: on a shared machine wall-clock ratios follow the neighbours, CPU times much
less so.

Benchmarks are not tests: nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

FILTER_GOAL_MS = 50.0
PROFILE_GOAL_MS = 100.0


def load() -> float:
    return os.getloadavg()[0]


def step(name: str, command: list[str], out: Path, env: dict[str, str] | None = None) -> str:
    """Run one benchmark, keep its output in ``out/name.txt``, return that output."""
    print(f"== {name}: {' '.join(command)}", flush=True)
    before = load()
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    text = done.stdout + done.stderr
    (out / f"{name}.txt").write_text(text)
    print(
        f"   {seconds:.0f} s, exit {done.returncode}, load {before:.1f} -> {load():.1f}",
        flush=True,
    )
    if done.returncode != 0:
        print(text[-3000:])
        raise SystemExit(f"{name} failed")
    return text


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (header and rule rows skipped)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in {"path", "case", "measure"}:
            continue
        rows.append(cells)
    return rows


def number(text: str) -> float:
    match = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    return float(match.group(0).replace(",", "")) if match else float("nan")


def met(ok: bool) -> str:
    return "**met**" if ok else "not met"


def ingest_rows(text: str) -> list[tuple[str, str, str, str]]:
    cells = {row[0]: row for row in table_rows(text)}
    api = next(r for k, r in cells.items() if k.startswith("HTTP"))
    copy = next(r for k, r in cells.items() if "COPY" in k and "/" not in k)
    ratio = number(api[1]) / number(copy[1])
    cpu = next((r for k, r in cells.items() if k.startswith("server CPU")), ["", "", ""])
    split = next((r for k, r in cells.items() if k.startswith("of which")), ["", "", ""])
    return [
        (
            "ingest: HTTP `/batch` ÷ COPY of the same rows",
            f"{ratio:.2f}x ({api[1]} vs {copy[1]} events/s)",
            f"{cpu[1]} (gunicorn / PostgreSQL {split[1]})",
            f"≥ 0.5x {met(ratio >= 0.5)}",
        )
    ]


def export_rows(text: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for cells in table_rows(text):
        name, value, note = [*cells, "", "", ""][:3]
        if " export as " not in name and "COPY (limit)" not in name:
            continue
        ratio = re.search(r"([\d.]+)x the limit", note)
        cpu = re.search(r"CPU ([\d.]+) s app \+ ([\d.]+) s PostgreSQL", note)
        rss = re.search(r"peak RSS (\d+) MB", note)
        limit_row = "COPY (limit)" in name
        ok = limit_row or (ratio is not None and float(ratio.group(1)) >= 0.5)
        rows.append(
            (
                f"export: {name}",
                f"{ratio.group(1) if ratio else '?'}x ({value})"
                if not limit_row
                else f"limit ({value})",
                (f"{cpu.group(1)} + {cpu.group(2)} s" if cpu else "")
                + (f", peak RSS {rss.group(1)} MB" if rss else ""),
                "—" if limit_row else f"≥ 0.5x {met(ok)}, ≤ 200 MB",
            )
        )
    return rows


def anonymize_rows(text: str) -> list[tuple[str, str, str, str]]:
    wall = re.search(r"ratio service / raw SQL throughput: ([\d.]+)x", text)
    cpu = re.search(r"ratio service / raw SQL per CPU second: ([\d.]+)x", text)
    cells = {row[0]: row for row in table_rows(text)}
    job = next((r for k, r in cells.items() if k.startswith("service, bulk job")), None)
    raw = next((r for k, r in cells.items() if k.startswith("hand-written")), None)
    ratio = float(wall.group(1)) if wall else float("nan")
    return [
        (
            "anonymization: bulk job ÷ hand-written set-based SQL",
            f"{ratio:.2f}x wall, {cpu.group(1) if cpu else '?'}x per CPU s",
            f"job {job[3] if job else '?'} vs SQL {raw[3] if raw else '?'} CPU s",
            f"≥ 0.85x {met(ratio >= 0.85)}",
        )
    ]


def scale_rows(text: str) -> list[tuple[str, str, str, str]]:
    rows = []
    for cells in table_rows(text):
        if len(cells) < 7 or not re.match(
            r"^(filter|search|kind|profile|worst|existing)", cells[0]
        ):
            continue
        case, who, wall, _, cpu = cells[:5]
        goal = PROFILE_GOAL_MS if case.startswith("profile") else FILTER_GOAL_MS
        rows.append(
            (
                f"{case} ({who})",
                f"{wall} ms wall median",
                f"{cpu} ms CPU median",
                f"≤ {goal:.0f} ms {met(number(wall) <= goal)}"
                + (f" (CPU {met(number(cpu) <= goal)})" if number(wall) > goal else ""),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("issue14-results"))
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--scale-db", default="bench_scale")
    parser.add_argument("--export-customers", type=int, default=200_000)
    parser.add_argument("--export-db", default="bench_scale_export")
    parser.add_argument("--ingest-db", default="bench_ingest")
    parser.add_argument("--anonymize-db", default="bench_anonymize")
    parser.add_argument("--redis-db", default="9")
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--ingest-seconds", type=float, default=30)
    parser.add_argument("--ingest-warmup", type=float, default=10)
    parser.add_argument("--anonymize-customers", type=int, default=20_000)
    parser.add_argument(
        "--only", default="", help="comma list of ingest,export,anonymize,scale (default all)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or {
        "ingest",
        "export",
        "anonymize",
        "scale",
    }
    rows: list[tuple[str, str, str, str]] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    first_load = load()
    if "ingest" in only:
        text = step(
            "ingest",
            [
                PYTHON,
                "bench/ingest.py",
                "--seconds",
                str(args.ingest_seconds),
                "--warmup",
                str(args.ingest_warmup),
                "--db",
                args.ingest_db,
                "--redis-db",
                args.redis_db,
            ],
            args.out,
        )
        rows += ingest_rows(text)
    if "export" in only:
        text = step(
            "export",
            [
                PYTHON,
                "bench/scale.py",
                "--db",
                args.export_db,
                "--customers",
                str(args.export_customers),
                "--events-per-customer",
                "1",
                "--skip",
                "baseline,filter,kinds,admin,profile,search,partitioning,index_cost",
                "--export-as",
                "admin,marketer",
            ],
            args.out,
        )
        rows += export_rows(text)
    if "anonymize" in only:
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-U", "root", args.anonymize_db],
            capture_output=True,
            check=False,
        )
        text = step(
            "anonymize",
            [
                PYTHON,
                "bench/anonymize.py",
                "--customers",
                str(args.anonymize_customers),
                "--events",
                "5",
            ],
            args.out,
            env={"DATABASE_URL": f"postgres://root@127.0.0.1:5432/{args.anonymize_db}"},
        )
        rows += anonymize_rows(text)
    if "scale" in only:
        text = step(
            "scale",
            [
                PYTHON,
                "bench/scale.py",
                "--db",
                args.scale_db,
                "--customers",
                str(args.customers),
                "--requests",
                str(args.requests),
                "--skip",
                "baseline,admin,export,partitioning,index_cost",
            ],
            args.out,
        )
        rows += scale_rows(text)
    print()
    print(
        f"Run {started}, {os.cpu_count()} cores, load average {first_load:.1f} at the start, "
        f"{load():.1f} at the end; outputs in {args.out}"
    )
    print()
    print("| measure | now | CPU | goal |\n|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
