"""The data side of the restart tests, run as a subprocess against the private database.

    python -m tests.reliability.scenario seed --customers N     # prints JSON
    python -m tests.reliability.scenario check --job ID --token T

The test process keeps its own (shared-server) test database; everything that touches the
private server goes through this module in a process whose ``DATABASE_URL`` names it.
``seed`` builds a project with PII flags, a tracking key, ``N`` customers with PII and a
queued (not sent) bulk anonymization job of all of them; ``check`` reports what the job and
the tracked batches left behind, for the test to judge.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from typing import Any

# One batch of the test's clients: two customers, each a property update and an event.
BATCH_EMAILS = ("{tag}-a@restart.test", "{tag}-b@restart.test")
BATCH_EVENT = "restart_view"


def batch_commands(tag: str) -> list[dict[str, Any]]:
    commands: list[dict[str, Any]] = []
    for template in BATCH_EMAILS:
        ids = {"registered": template.format(tag=tag)}
        commands.append(
            {"name": "customers", "data": {"customer_ids": ids, "properties": {"plan": tag}}}
        )
        commands.append(
            {
                "name": "customers/events",
                "data": {
                    "customer_ids": ids,
                    "event_type": BATCH_EVENT,
                    "properties": {"tag": tag},
                },
            }
        )
    return commands


def seed(customers: int) -> dict[str, Any]:
    from customers.models import Customer, CustomerId, Event
    from customers.services import anonymization_job_create
    from datamanager.models import EventType
    from datamanager.services import catalog_register_seen, pii_flags_set
    from tests import factories

    project = factories.make_project("Restart shop")
    actor = factories.system(project)
    catalog_register_seen(
        project=project,
        customer_properties={"email": "a@b.c", "phone": "+1", "plan": "free"},
        events={"page_visit": {"url": "/", "ip": "1.2.3.4"}, BATCH_EVENT: {"tag": "t"}},
    )
    pii_flags_set(
        actor=actor,
        customer_attributes={"registered": True, "email": True, "phone": True},
        event_attributes={("page_visit", "ip"): True},
    )
    rows = Customer.objects.bulk_create(
        [
            Customer(
                project=project,
                properties={"email": f"r{i}@leak.test", "phone": f"+421 {i:06d}", "plan": "x"},
            )
            for i in range(customers)
        ],
        batch_size=1000,
    )
    CustomerId.objects.bulk_create(
        [
            CustomerId(project=project, customer=c, name="registered", value=f"r{i}@leak.test")
            for i, c in enumerate(rows)
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
                properties={"url": "/", "ip": f"10.1.{i % 250}.{i % 200}"},
            )
            for i, c in enumerate(rows)
        ],
        batch_size=1000,
    )
    job = anonymization_job_create(
        actor=actor, source="cli", customers=[c.pk for c in rows], start=False
    )
    key = factories.make_key(project, "track", name="Tracker")
    return {"token": str(project.token), "basic": key.basic, "job": job.pk}


def check(job_id: int, token: str) -> dict[str, Any]:
    from access.models import AuditEvent, Project
    from customers.models import AnonymizationJob, Customer, CustomerId, Event

    project = Project.objects.get(token=token)
    job = AnonymizationJob.objects.get(pk=job_id)
    job_customers = Customer.objects.filter(project=project).exclude(
        external_ids__value__endswith="@restart.test"
    )
    per_customer = Counter(
        Event.objects.filter(project=project, event_type__name="anonymization").values_list(
            "customer_id", flat=True
        )
    )
    # Each tag: how many of its IDs and events exist (all-or-nothing, once).
    tags: dict[str, list[int]] = {}
    for value in CustomerId.objects.filter(
        project=project, name="registered", value__endswith="@restart.test"
    ).values_list("value", flat=True):
        tag = value.rsplit("-", 1)[0]
        tags.setdefault(tag, [0, 0])[0] += 1
    for tag in Event.objects.filter(project=project, event_type__name=BATCH_EVENT).values_list(
        "properties__tag", flat=True
    ):
        tags.setdefault(str(tag), [0, 0])[1] += 1
    return {
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "error": job.error,
        "not_anonymized": job_customers.filter(anonymized_at__isnull=True).count(),
        "anonymization_events": sorted(Counter(per_customer.values()).items()),
        "anonymized_customers": len(per_customer),
        "audit_anonymize": AuditEvent.objects.filter(
            project=project, action="customer.anonymize"
        ).count(),
        "registered_left": CustomerId.objects.filter(
            project=project, name="registered", value__endswith="@leak.test"
        ).count(),
        "email_left": job_customers.filter(properties__has_key="email").count(),
        "ip_left": Event.objects.filter(project=project, properties__has_key="ip").count(),
        "tags": tags,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    seed_parser = sub.add_parser("seed")
    seed_parser.add_argument("--customers", type=int, required=True)
    check_parser = sub.add_parser("check")
    check_parser.add_argument("--job", type=int, required=True)
    check_parser.add_argument("--token", required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.test_settings")
    import django

    django.setup()
    result = seed(args.customers) if args.command == "seed" else check(args.job, args.token)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
