"""The filter-kind cases of bench/scale.py (issue 22 item 5): one case per new condition kind.

Each kind is a list page (first page, newest customers first, the list's own page size)
opened through the URL form the list writes itself (``g=`` / ``e=`` JSON, ``c=!``), as the
admin and as the marketer (none of these touches PII, so both may run it):

- OR group: ``plan = premium OR plan = business``;
- negated condition: ``NOT plan = premium`` (a true complement: customers without a plan too);
- negated group: ``NOT (plan = premium OR plan = basic)``;
- event attribute condition: ``purchase where total > 100``;
- count: ``purchase at least 2 times``;
- time window: ``purchase between <60 days ago> and <30 days ago>``;
- has never done: ``NOT purchase`` (``e=!purchase``);
- and, to show a selective case, ``purchase where total > 100 at least 3 times``
  (0.4 % of the customers match: the first page looks further down the id order).

Then the worst cases, as the admin with at most ``RARE_REQUESTS`` timed requests (each
takes seconds): a count almost nobody reaches (``purchase at least 5 times``), an event
attribute value nobody has (``purchase where total > 100000``: no index on event
properties), and an event attribute condition whose planner estimate falls under the
list's exact-count limit (``page_visit where url = …/sale``: the page runs an exact COUNT).

Every case's first-page query is read with ``EXPLAIN`` (not ``ANALYZE``: no extra run);
the top of the plan goes in the note and the full plans into ``filter_kinds_plans.txt`` in the temporary directory, for the
write-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.at_scale.dataset import Bench
from bench.at_scale.timing import Result, count_queries, run_case

PLANS_FILE = str(Path(tempfile.gettempdir()) / "filter_kinds_plans.txt")


def _plan(value: str) -> dict[str, Any]:
    return {"attribute": "plan", "operator": "equals", "value": value}


def _big(value: int = 100) -> list[dict[str, Any]]:
    return [{"attribute": "total", "operator": "gt", "value": value}]


def cases(today: dt.date) -> list[tuple[str, dict[str, list[str]]]]:
    """(kind, URL parameters): the URL form of each kind."""
    since = (today - dt.timedelta(days=60)).isoformat()
    until = (today - dt.timedelta(days=30)).isoformat()

    def g(obj: dict[str, Any]) -> dict[str, list[str]]:
        return {"g": [json.dumps(obj, separators=(",", ":"))]}

    def e(obj: dict[str, Any]) -> dict[str, list[str]]:
        return {"e": [json.dumps(obj, separators=(",", ":"))]}

    return [
        (
            "OR group (plan premium or business)",
            g({"conditions": [_plan("premium"), _plan("business")]}),
        ),
        ("negated condition (not plan premium)", {"c": ["!plan:equals:premium"]}),
        (
            "negated group (not (premium or basic))",
            g({"match": "any", "not": True, "conditions": [_plan("premium"), _plan("basic")]}),
        ),
        ("event where (purchase, total > 100)", e({"event_type": "purchase", "where": _big()})),
        (
            "count (purchase at least 2 times)",
            e({"event_type": "purchase", "count": {"op": "at_least", "value": 2}}),
        ),
        (
            "time window (purchase 60..30 days ago)",
            e({"event_type": "purchase", "since": since, "until": until}),
        ),
        ("has never done (no purchase)", {"e": ["!purchase"]}),
        (
            "count where, selective (total > 100, >= 3 times)",
            e(
                {
                    "event_type": "purchase",
                    "where": _big(),
                    "count": {"op": "at_least", "value": 3},
                }
            ),
        ),
    ]


RARE_REQUESTS = 3


def rare_cases() -> list[tuple[str, dict[str, list[str]]]]:
    def e(obj: dict[str, Any]) -> dict[str, list[str]]:
        return {"e": [json.dumps(obj, separators=(",", ":"))]}

    url = "https://shop.example.com/sale"
    return [
        (
            "worst: count, rare (purchase at least 5 times)",
            e({"event_type": "purchase", "count": {"op": "at_least", "value": 5}}),
        ),
        (
            "worst: event where, value nobody has (total > 100000)",
            e({"event_type": "purchase", "where": _big(100_000)}),
        ),
        (
            "worst: event where, exact count (url = /sale)",
            e(
                {
                    "event_type": "page_visit",
                    "where": [{"attribute": "url", "operator": "equals", "value": url}],
                }
            ),
        ),
    ]


def _explain(bench: Bench, params: dict[str, list[str]], size: int) -> str:
    """The plan of the list's first-page query for this filter (as the admin)."""
    from access.selectors import principal_for_user
    from customers.filters import CustomerFilter, customers_matching

    principal = principal_for_user(bench.admin, bench.project)
    customer_filter = CustomerFilter.from_querydict(params)
    rows = customers_matching(principal, customer_filter).order_by("-pk")[:size]
    return str(rows.explain())


def _total_note(bench: Bench, params: dict[str, list[str]], size: int) -> str:
    """What the list's first page says as its total for this filter (``list_total``)."""
    from access.selectors import principal_for_user
    from customers.filters import CustomerFilter, customers_matching, estimate_is_reliable
    from customers.listing import Sort, customer_page, list_total

    principal = principal_for_user(bench.admin, bench.project)
    customer_filter = CustomerFilter.from_querydict(params)
    matching = customers_matching(principal, customer_filter)
    page = customer_page(matching, sort=Sort(), value_type=None, limit=size)
    total = list_total(
        matching,
        page,
        first_page=True,
        estimate_reliable=estimate_is_reliable(customer_filter),
    )
    kind = "exact" if total.exact else "estimated" if total.estimated else "not counted"
    return f"total {kind}: {total.label}"


def _plan_note(plan: str) -> str:
    """The plan's nodes in order, briefly: 'Limit > Index Scan Backward ... > SubPlan'."""
    nodes = []
    for line in plan.splitlines():
        text = line.strip().removeprefix("->").strip()
        if not text or text.startswith(("Filter:", "Index Cond:", "Output:", "Sort Key:")):
            if "SubPlan" in text or "alternatives" in text:
                nodes.append(text)
            continue
        name = text.split("  (", 1)[0]
        if name.startswith("SubPlan") or " on " in name or name in ("Limit", "Sort", "Hash"):
            nodes.append(name.replace("customers_", ""))
    return "plan: " + " > ".join(dict.fromkeys(nodes))[:220]


def _with_filter_index(
    bench: Bench,
    args: argparse.Namespace,
    results: list[Result],
    clients: dict[str, Any],
    list_url: str,
    requests: int,
) -> None:
    """The "value nobody has" case again with ``purchase.total`` given a filter index in the
    Data manager (through the product's service, built concurrently), then taken away, so
    the data set stays as a new project has it."""
    from django.db import connection

    from access.selectors import principal_for_system
    from datamanager.event_indexes import filter_index_set, filter_index_sync
    from datamanager.models import EventAttribute

    if connection.vendor != "postgresql":
        return
    attribute = EventAttribute.objects.get(
        event_type__project=bench.project, event_type__name="purchase", name="total"
    )
    actor = principal_for_system(bench.project, label="bench")
    filter_index_set(actor=actor, attribute_id=attribute.pk, indexed=True)
    filter_index_sync(attribute_id=attribute.pk)  # already built if the task ran eagerly
    try:
        params = rare_cases()[1][1]
        url = list_url + "?" + urlencode({"size": args.size, **params}, doseq=True)
        kind = "worst: event where, value nobody has, with a filter index on purchase.total"
        r = run_case(results, f"kind: {kind}", "admin", clients["admin"], url, requests)
        r.note = _plan_note(_explain(bench, params, args.size))
    finally:
        filter_index_set(actor=actor, attribute_id=attribute.pk, indexed=False)
        filter_index_sync(attribute_id=attribute.pk)


def run_filter_kinds(
    bench: Bench,
    args: argparse.Namespace,
    results: list[Result],
    clients: dict[str, Any],
    queries: dict[str, int],
) -> None:
    from django.utils import timezone

    list_url = f"/projects/{bench.project.token}/customers/"
    plans_file = PLANS_FILE
    plans: list[str] = []
    print(f"filter kinds ({bench.customers:,} customers), {args.requests} requests each")
    for kind, params in cases(timezone.now().date()):
        url = list_url + "?" + urlencode({"size": args.size, **params}, doseq=True)
        by_who: dict[str, Result] = {}
        for who in ("admin", "marketer"):
            by_who[who] = run_case(results, f"kind: {kind}", who, clients[who], url, args.requests)
        plan = _explain(bench, params, args.size)
        plans.append(f"## {kind}\n{url}\n\n{plan}\n")
        by_who["admin"].note = (by_who["admin"].note + " " if by_who["admin"].note else "") + (
            _plan_note(plan)
        )
        queries[f"kind: {kind}"] = count_queries(clients["marketer"], url)
    if bench.customers >= 10_000:  # at the smoke test's size these say nothing
        rare = min(args.requests, RARE_REQUESTS)
        for kind, params in rare_cases():
            url = list_url + "?" + urlencode({"size": args.size, **params}, doseq=True)
            r = run_case(results, f"kind: {kind}", "admin", clients["admin"], url, rare)
            plan = _explain(bench, params, args.size)
            plans.append(f"## {kind}\n{url}\n\n{plan}\n")
            r.note = (r.note + " " if r.note else "") + _total_note(bench, params, args.size) + "; "
            r.note += _plan_note(plan)
        _with_filter_index(bench, args, results, clients, list_url, rare)
    with open(plans_file, "w") as f:
        f.write("\n".join(plans))
    print(f"  plans written to {plans_file}")
