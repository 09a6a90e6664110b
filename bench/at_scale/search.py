"""The search cases of bench/scale.py (issue 14 item 3): a filter on any attribute.

- ``email equals <address>``: any property, through the shared GIN index (customers/0006);
- ``last_name equals <name>``: the same for a property nobody marked;
- ``email contains <part>`` and ``email starts with <prefix>``: ``email`` marked searchable
  through the Data manager's service, which builds its trigram index (timed here);
- ``email contains example.com``: a part every customer has (the list walks the id order).

Each case is timed as the admin (``email`` is PII: the marketer is refused, which a test
pins), and its plan is read with ``EXPLAIN``: at 10,000 customers and more the note says
``INDEX NOT USED`` if the expected index is missing from the plan, and the run fails.
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from urllib.parse import urlencode

from bench.at_scale.dataset import Bench
from bench.at_scale.timing import Extra, Result, count_queries, run_case

# Below this the planner rightly prefers a scan: plans are only checked from here on.
CHECK_PLANS_FROM = 10_000


def make_email_searchable(bench: Bench, extra: Extra) -> None:
    """Mark ``email`` searchable as an admin would; the eager task builds the index now."""
    from access.selectors import principal_for_system
    from datamanager.models import CustomerAttribute
    from datamanager.search_indexes import index_name, search_index_status, searchable_set

    attribute = CustomerAttribute.objects.get(project=bench.project, name="email")
    if attribute.searchable and attribute.search_index_state == "ready":
        print("email is searchable (index built before)")
        return
    started = time.perf_counter()
    searchable_set(
        actor=principal_for_system(bench.project, label="bench"), name="email", searchable=True
    )
    seconds = time.perf_counter() - started
    attribute.refresh_from_db()
    status = search_index_status([attribute])[attribute.pk]
    size = (status.size_bytes or 0) / 1e6
    extra.append(
        (
            f"searchable email: {index_name(attribute.pk)} built",
            f"{seconds:.1f} s",
            f"{size:.0f} MB for {bench.customers:,} customers, state {attribute.search_index_state}",
        )
    )
    print(f"  {extra[-1]}")


def _sample(bench: Bench) -> dict[str, str]:
    """An e-mail address and last name of a customer in the middle of the id range."""
    from customers.models import Customer

    middle = (
        Customer.objects.filter(project=bench.project)
        .order_by("pk")
        .values_list("properties", flat=True)[bench.customers // 2 : bench.customers // 2 + 1]
        .get()
    )
    email = str(middle.get("email", "nobody@example.com"))
    local = email.split("@", 1)[0]
    return {"email": email, "last_name": str(middle.get("last_name", "Nobody")), "local": local}


def _plan_index(bench: Bench, text: str, expected: str) -> str:
    """The note on a case: which index the list's first-page query reads."""
    from access.selectors import principal_for_user
    from customers.filters import CustomerFilter, customers_matching

    principal = principal_for_user(bench.admin, bench.project)
    rows = customers_matching(principal, CustomerFilter.from_string(text)).order_by("-pk")[:25]
    plan = str(rows.explain())
    used = [name for name in ("customer_properties_path_ops", "customer_search_") if name in plan]
    if expected and bench.customers >= CHECK_PLANS_FROM and expected not in plan:
        raise SystemExit(f"INDEX NOT USED: {text!r} should read {expected}; plan:\n{plan}")
    return "reads " + (", ".join(used) or "no property index (id order)")


def run_search(
    bench: Bench,
    args: argparse.Namespace,
    results: list[Result],
    clients: dict[str, Any],
    queries: dict[str, int],
    extra: Extra,
) -> None:
    make_email_searchable(bench, extra)
    sample = _sample(bench)
    list_url = f"/projects/{bench.project.token}/customers/"
    tail = sample["local"][-7:]  # e.g. "412345" with a letter or dot before it
    cases = [
        ("email equals <address>", f"c=email:equals:{sample['email']}", "path_ops"),
        ("last_name equals <name>", f"c=last_name:equals:{sample['last_name']}", ""),
        ("email contains <part> (searchable)", f"c=email:contains:{tail}", "customer_search_"),
        (
            "email starts with <prefix> (searchable)",
            f"c=email:starts_with:{sample['local'][:-1]}",
            "customer_search_",
        ),
        ("email contains example.com (every customer)", "c=email:contains:example.com", ""),
    ]
    print(f"filter on any attribute ({bench.customers:,} customers), {args.requests} requests each")
    for case, text, expected in cases:
        url = list_url + "?" + urlencode({"size": args.size, "c": text.removeprefix("c=")})
        r = run_case(results, f"search: {case}", "admin", clients["admin"], url, args.requests)
        r.note = (r.note + " " if r.note else "") + _plan_index(bench, text, expected)
        queries[f"search: {case}"] = count_queries(clients["admin"], url)
