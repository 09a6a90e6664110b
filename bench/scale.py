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
The parts live in ``bench/at_scale/`` (data set, timing, page cases, search cases,
export cases); this script only runs them.

Benchmarks are not tests: nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The repository is on sys.path from here.
from bench.at_scale import (  # noqa: E402
    dataset,
    export,
    filter_kinds,
    index_cost,
    pages,
    partitioning,
    search,
)
from bench.at_scale.timing import Extra, Result, client_for, print_table  # noqa: E402


def run_all(
    bench: dataset.Bench,
    args: argparse.Namespace,
    results: list[Result],
    extra: Extra,
    skip: set[str],
) -> None:
    clients = {
        "admin": client_for(bench.admin),
        "marketer": client_for(bench.marketer),
        "superuser": client_for(bench.superuser),
    }
    queries: dict[str, int] = {}
    if "baseline" not in skip:
        pages.run_baseline(bench, args, results, clients["admin"])
    pages.run_filter_and_admin(bench, args, results, clients, queries, skip)
    if "kinds" not in skip:  # issue 22: one case per filter condition kind
        filter_kinds.run_filter_kinds(bench, args, results, clients, queries)
    if "search" not in skip:
        search.run_search(bench, args, results, clients, queries, extra)
    if "profile" not in skip:
        pages.run_profile(bench, args, results, clients, queries)
    if "export" not in skip:
        export.run_export_cases(bench, args, extra)
    if "partitioning" not in skip:  # a partitioned copy of the events, dropped after
        partitioning.run_partitioning(bench, extra)
    if "index_cost" not in skip:  # last: it adds customers and drops indexes for a while
        index_cost.run_index_cost(bench, extra)
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
        "--skip",
        default="",
        help="comma list: baseline,filter,kinds,admin,search,profile,export,partitioning,index_cost",
    )
    parser.add_argument("--copy-export-worker", metavar="USERNAME", help=argparse.SUPPRESS)
    parser.add_argument(
        "--export-worker", nargs=2, metavar=("USERNAME", "URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.export_worker:
        export.export_worker(args.db, *args.export_worker)
        return
    if args.copy_export_worker:
        export.copy_export_worker(args.db, args.copy_export_worker)
        return

    dataset.configure(args.db)
    dataset.create(args.db)
    bench = dataset.prepare(args.customers, args.events_per_customer)
    if args.prepare_only:
        return
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    results: list[Result] = []
    extra: Extra = []
    run_all(bench, args, results, extra, skip)
    print_table(results, extra)


if __name__ == "__main__":
    main()
