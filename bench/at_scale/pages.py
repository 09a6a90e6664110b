"""The page cases of bench/scale.py: the customer filter (first and deep pages, a
property and an event condition), Django's admin changelist for the same pages, the
profile of the customer with 10,000 events."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlencode

from bench.at_scale.dataset import Bench
from bench.at_scale.timing import Result, count_queries, run_case

ADMIN_PER_PAGE = 100  # ModelAdmin.list_per_page; the admin's ?p= is 0-based
PLAN = "premium"


def cursor_after(bench: Bench, rows: int) -> str:
    """The list's cursor after ``rows`` customers in its default order (newest id first)."""
    from customers.listing import encode_cursor
    from customers.models import Customer

    pk = (
        Customer.objects.filter(project=bench.project)
        .order_by("-pk")
        .values_list("pk", flat=True)[rows - 1 : rows]
        .get()
    )
    return encode_cursor(pk, pk)


def run_baseline(
    bench: Bench, args: argparse.Namespace, results: list[Result], client: Any
) -> None:
    """The floor every project page pays: session, user, project, membership and
    permission queries, then a redirect (no customer data, no template)."""
    print("baseline: project home (authenticated redirect)")
    run_case(
        results,
        "baseline: project home (redirect)",
        "admin",
        client,
        f"/projects/{bench.project.token}/",
        args.requests,
    )


def run_filter_and_admin(
    bench: Bench,
    args: argparse.Namespace,
    results: list[Result],
    clients: dict[str, Any],
    queries: dict[str, int],
    skip: set[str],
) -> None:
    """The customer filter's cases as admin and marketer, then the admin changelist's
    same pages as superuser, each with its ratio to the filter."""
    token = bench.project.token
    deep_rows = min(500_000, max(bench.customers // 2, 1))
    deep = cursor_after(bench, deep_rows)
    size = args.size  # the list's default is 25; Django's admin shows 100
    list_url = f"/projects/{token}/customers/"
    cases = [
        ("first page", {"size": size}),
        (f"deep page (after {deep_rows:,} rows)", {"size": size, "after": deep}),
        (f"first page, plan = {PLAN}", {"size": size, "c": f"plan:equals:{PLAN}"}),
        (
            f"deep page, plan = {PLAN}",
            {"size": size, "c": f"plan:equals:{PLAN}", "after": deep},
        ),
        ("first page, purchase in last 30 days", {"size": size, "e": "purchase:30"}),
    ]
    admin_cases = [
        ("first page", {"project__id__exact": bench.project.pk}),
        (
            f"deep page (offset {deep_rows:,})",
            {"project__id__exact": bench.project.pk, "p": deep_rows // ADMIN_PER_PAGE},
        ),
        (
            f"first page, plan = {PLAN}",
            {"project__id__exact": bench.project.pk, "properties__plan": PLAN},
        ),
        (
            f"deep page, plan = {PLAN}",
            # The same rows as the filter's deep page start at about a quarter of the offset.
            {
                "project__id__exact": bench.project.pk,
                "properties__plan": PLAN,
                "p": deep_rows // ADMIN_PER_PAGE // 4,
            },
        ),
    ]
    filter_results: dict[tuple[str, str], Result] = {}
    if "filter" not in skip:
        print(f"customer filter ({bench.customers:,} customers), {args.requests} requests each")
        for case, params in cases:
            url = list_url + "?" + urlencode(params)
            for who in ("admin", "marketer"):
                r = run_case(results, f"filter: {case}", who, clients[who], url, args.requests)
                filter_results[(case, who)] = r
            queries[f"filter: {case}"] = count_queries(clients["marketer"], url)
    if "admin" not in skip:
        print(f"Django admin changelist, {args.admin_requests} requests each")
        for (case, params), (fcase, _) in zip(admin_cases, cases, strict=False):
            url = "/admin/customers/customer/?" + urlencode(params)
            r = run_case(
                results,
                f"admin changelist: {case}",
                "superuser",
                clients["superuser"],
                url,
                args.admin_requests,
            )
            ours = filter_results.get((fcase, "admin"))
            if ours and ours.median > 0:
                r.note = (r.note + " " if r.note else "") + (
                    f"{r.cpu_median / ours.cpu_median:.1f}x the filter's CPU, "
                    f"{r.median / ours.median:.1f}x its wall time"
                )
            queries[f"admin changelist: {case}"] = count_queries(clients["superuser"], url)
    note_masking_cost(filter_results)


def note_masking_cost(filter_results: dict[tuple[str, str], Result]) -> None:
    """Note on each marketer row what masking cost against the admin's same page."""
    for (case, who), r in filter_results.items():
        if who == "marketer":
            base = filter_results.get((case, "admin"))
            if base and base.median > 0:
                r.note = (r.note + " " if r.note else "") + (
                    f"masking {100 * (r.cpu_median / base.cpu_median - 1):+.0f} % CPU, "
                    f"{100 * (r.median / base.median - 1):+.0f} % wall"
                )


def run_profile(
    bench: Bench,
    args: argparse.Namespace,
    results: list[Result],
    clients: dict[str, Any],
    queries: dict[str, int],
) -> None:
    url = f"/projects/{bench.project.token}/customers/{bench.heavy_customer_id}/"
    print("profile of a customer with 10,000 events")
    for who in ("admin", "marketer"):
        run_case(results, "profile, 10k events", who, clients[who], url, args.requests)
    queries["profile, 10k events"] = count_queries(clients["marketer"], url)
    url_typed = url + "?" + urlencode({"type": "purchase"})
    run_case(
        results,
        "profile, 10k events, type = purchase",
        "admin",
        clients["admin"],
        url_typed,
        args.requests,
    )
