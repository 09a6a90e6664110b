"""Concurrency soak (issue 21): tracking, merges, anonymizations and flag changes at once.

    DATABASE_URL=postgres://root@127.0.0.1:5432/h2 .venv/bin/python bench/soak_concurrency.py --seconds 60

Migrates the database in DATABASE_URL, creates a fresh project, then runs threads for
``--seconds``: trackers (single ``customers`` / ``customers/events`` calls and ``/batch``
writes with PII properties and PII event attributes, over a small pool of people so they
collide), mergers (a cookie-only visitor logs in), anonymizers (by internal id, by IDs, and
small bulk jobs) and a flagger (flags and unflags a property and an event attribute). Jobs
run in-process (eager), as without a broker. Every call either succeeds or answers a
domain error (a 409 after the retry bound counts as ``conflicts``); anything else is an
``error``. At the end an integrity check reads every anonymized customer: no PII property
(by the final catalog), no ID but its one random cookie, no PII event attribute. Exits 1
on any error or integrity finding.
"""

# ruff: noqa: B023  (each lambda is called at once by call(), inside its loop iteration)
from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.pop("REDIS_URL", None)  # eager jobs, per-process cache: the database is the subject


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--trackers", type=int, default=4)
    parser.add_argument("--people", type=int, default=40)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        print("note: not PostgreSQL; SQLite serializes writers, so there is little race")
    call_command("migrate", verbosity=0)

    from access.errors import Conflict, DomainError
    from access.selectors import principal_for_system
    from access.services import project_create
    from customers.models import Customer, CustomerId, Event
    from customers.services.anonymization import customer_anonymize_one
    from customers.services.anonymization_jobs import anonymization_job_create
    from customers.services.tracking import customer_update, event_track
    from customers.services.tracking_batch import tracking_batch
    from datamanager.catalog import catalog_load
    from datamanager.services import pii_flags_set

    project = project_create(name=f"Soak {int(time.time())}", created_by="soak")
    actor = principal_for_system(project, label="soak")
    customer_update(
        actor=actor, ids={"registered": "seed@x.test"}, properties={"email": "e", "nick": "n"}
    )
    event_track(
        actor=actor,
        ids={"registered": "seed@x.test"},
        event_type="visit",
        properties={"ip": "1", "url": "u", "ref": "r"},
    )
    pii_flags_set(
        actor=actor,
        customer_attributes={"email": True, "registered": True},
        event_attributes={("visit", "ip"): True},
    )

    stop = time.monotonic() + args.seconds
    counts: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    acknowledged = Counter[str]()

    def person(rng: random.Random) -> str:
        return f"p{rng.randrange(args.people)}@x.test"

    def call(kind: str, fn: Any) -> Any:
        try:
            result = fn()
        except Conflict:
            with lock:
                counts[f"{kind}:409"] += 1
            return None
        except DomainError:
            with lock:
                counts[f"{kind}:4xx"] += 1
            return None
        except Exception as exc:
            with lock:
                errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])
            return None
        with lock:
            counts[kind] += 1
        return result

    def tracker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            who = person(rng)
            cookie = f"ck-{rng.randrange(args.people * 2)}"
            ids = rng.choice(
                [{"registered": who}, {"cookie": cookie}, {"registered": who, "cookie": cookie}]
            )
            pii = {"email": who, "nick": f"nick-{who}", "plan": rng.choice(["a", "b"])}
            choice = rng.random()
            if choice < 0.3:
                call("update", lambda: customer_update(actor=actor, ids=ids, properties=pii))
            elif choice < 0.6:
                if (
                    call(
                        "event",
                        lambda: event_track(
                            actor=actor,
                            ids=ids,
                            event_type="visit",
                            properties={"ip": who, "url": "u", "ref": who},
                        ),
                    )
                    is not None
                ):
                    with lock:
                        acknowledged["events"] += 1
            else:
                commands = []
                for _ in range(rng.randrange(2, 8)):
                    w = person(rng)
                    c = (
                        {"registered": w}
                        if rng.random() < 0.5
                        else {"cookie": f"ck-{rng.randrange(args.people * 2)}"}
                    )
                    if rng.random() < 0.5:
                        commands.append(
                            {
                                "name": "customers",
                                "data": {"customer_ids": c, "properties": {"email": w, "nick": w}},
                            }
                        )
                    else:
                        commands.append(
                            {
                                "name": "customers/events",
                                "data": {
                                    "customer_ids": c,
                                    "event_type": "visit",
                                    "properties": {"ip": w, "ref": w},
                                },
                            }
                        )
                results = call("batch", lambda: tracking_batch(actor=actor, commands=commands))
                if results is not None:
                    n = sum(
                        1
                        for cmd, r in zip(commands, results, strict=True)
                        if r.get("success") and cmd["name"] == "customers/events"
                    )
                    with lock:
                        acknowledged["events"] += n

    def merger(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            cookie = f"ck-{rng.randrange(args.people * 2)}"
            call(
                "visit",
                lambda: event_track(
                    actor=actor,
                    ids={"cookie": cookie},
                    event_type="visit",
                    properties={"ip": cookie, "url": "v"},
                ),
            )
            with lock:
                acknowledged["events"] += 1
            call(
                "login",
                lambda: customer_update(
                    actor=actor,
                    ids={"registered": person(rng), "cookie": cookie},
                    properties={"nick": cookie},
                ),
            )

    def anonymizer(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop:
            pks = list(Customer.objects.filter(project=project).values_list("pk", flat=True)[:500])
            if not pks:
                continue
            r = rng.random()
            if r < 0.4:
                call(
                    "anonymize_id",
                    lambda: customer_anonymize_one(
                        actor=actor, customer_pk=rng.choice(pks), source="api"
                    ),
                )
            elif r < 0.8:
                call(
                    "anonymize_ids",
                    lambda: customer_anonymize_one(
                        actor=actor, ids={"registered": person(rng)}, source="api"
                    ),
                )
            else:
                call(
                    "bulk",
                    lambda: anonymization_job_create(
                        actor=actor, source="bulk_api", customers=rng.sample(pks, min(3, len(pks)))
                    ),
                )
            time.sleep(0.01)

    def flagger(seed: int) -> None:
        rng = random.Random(seed)
        flag = False
        while time.monotonic() < stop:
            flag = not flag
            call(
                "flag",
                lambda: pii_flags_set(
                    actor=actor,
                    customer_attributes={"nick": flag},
                    event_attributes={("visit", "ref"): flag},
                ),
            )
            time.sleep(rng.uniform(0.05, 0.3))

    def run(target: Any, seed: int) -> None:
        try:
            target(seed)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(tracker, i)) for i in range(args.trackers)]
    threads += [
        threading.Thread(target=run, args=(merger, 100)),
        threading.Thread(target=run, args=(anonymizer, 200)),
        threading.Thread(target=run, args=(anonymizer, 201)),
        threading.Thread(target=run, args=(flagger, 300)),
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    # Integrity -----------------------------------------------------------------------------
    catalog = catalog_load(project.pk)
    findings: list[str] = []
    anonymized = Customer.objects.filter(project=project, anonymized_at__isnull=False)
    for c in anonymized.iterator():
        bad = set(c.properties) & catalog.customer_properties
        if bad:
            findings.append(f"customer #{c.pk}: PII properties {sorted(bad)}")
        ids = list(CustomerId.objects.filter(customer=c).values_list("name", "value"))
        if len(ids) != 1 or ids[0][0] != "cookie" or len(ids[0][1]) != 32:
            findings.append(f"customer #{c.pk}: IDs {[n for n, _ in ids]}")
    for pk, type_name, props in (
        Event.objects.filter(customer__in=anonymized)
        .values_list("customer_id", "event_type__name", "properties")
        .iterator()
    ):
        bad = set(props) & catalog.event_pii(type_name)
        if bad:
            findings.append(f"customer #{pk}: PII event attributes {type_name}.{sorted(bad)}")
    tracked_events = (
        Event.objects.filter(project=project).exclude(event_type__name="anonymization").count() - 1
    )  # the seed event

    total = sum(v for k, v in counts.items())
    print(
        f"seconds: {elapsed:.1f}  threads: {len(threads)}  calls: {total} ({total / elapsed:.0f}/s)"
    )
    for kind, n in sorted(counts.items()):
        print(f"  {kind}: {n}")
    print(
        f"anonymized customers: {anonymized.count()} of {Customer.objects.filter(project=project).count()}"
    )
    print(f"events acknowledged: {acknowledged['events']}  stored: {tracked_events}")
    print(f"errors: {len(errors)}")
    for e in errors[:10]:
        print("  ", e)
    print(f"integrity findings: {len(findings)}")
    for f in findings[:10]:
        print("  ", f)
    ok = not errors and not findings and acknowledged["events"] == tracked_events
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
