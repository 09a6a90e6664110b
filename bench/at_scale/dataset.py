"""The data set of bench/scale.py: a project with 1 M customers, its users and flags."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any

from bench.common import PG, create_database

PROJECT_NAME = "Bench shop"
HEAVY_EMAIL = "heavy.customer@bench.invalid"
HEAVY_EVENTS = 10_000


def configure(db: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{db}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "exponea_pii.test_settings"
    os.environ.setdefault("AXES_ENABLED", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # One PostgreSQL backend for the whole run, so its CPU time can be read per request.
    os.environ.setdefault("DB_CONN_MAX_AGE", "36000")


def create(db: str) -> None:
    if create_database(db):
        print(f"created database {db}")


@dataclass
class Bench:
    project: Any
    admin: Any
    marketer: Any
    superuser: Any
    heavy_customer_id: int
    customers: int


def prepare(customers: int, events_per_customer: int) -> Bench:
    """Migrate, seed users and flags, load the dataset unless present, add the heavy customer."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from access.models import Project, Role
    from access.selectors import principal_for_system
    from access.services import member_add, project_create, user_get_or_create
    from customers.management.commands.seed_demo import PII_CUSTOMER, PII_EVENTS
    from customers.models import Customer, CustomerId
    from datamanager.services import pii_flags_set

    call_command("migrate", verbosity=0)
    project = Project.objects.filter(name=PROJECT_NAME).order_by("id").first()
    if project is None:
        project = project_create(name=PROJECT_NAME, created_by="bench")
    actor = principal_for_system(project, label="bench")

    have = Customer.objects.filter(project=project).count()
    if have < customers:
        print(f"loading {customers - have} customers x {events_per_customer} events ...")
        started = time.monotonic()
        call_command(
            "generate_dataset",
            project=str(project.token),
            customers=customers - have,
            events_per_customer=events_per_customer,
            seed=have + 1,
        )
        print(f"loaded in {time.monotonic() - started:.0f} s")
    else:
        print(f"reusing {have} customers in {PROJECT_NAME!r}")

    heavy = CustomerId.objects.filter(project=project, name="registered", value=HEAVY_EMAIL).first()
    heavy_id = _add_heavy_customer(actor) if heavy is None else heavy.customer_id

    pii_flags_set(
        actor=actor,
        customer_attributes={name: True for name in PII_CUSTOMER},
        event_attributes={pair: True for pair in PII_EVENTS},
    )
    users = {}
    for username, role_name in (("bench_admin", "Admin"), ("bench_marketer", "Marketer")):
        user = user_get_or_create(username=username, email=f"{username}@bench.invalid")
        member_add(
            actor=actor, user=user, roles=[Role.objects.get(project=project, name=role_name)]
        )
        users[username] = user
    User = get_user_model()
    superuser = User.objects.filter(username="bench_superuser").first()
    if superuser is None:
        superuser = User.objects.create_superuser(
            "bench_superuser", "bench_superuser@bench.invalid", "bench-superuser-pass"
        )
    return Bench(
        project=project,
        admin=users["bench_admin"],
        marketer=users["bench_marketer"],
        superuser=superuser,
        heavy_customer_id=heavy_id,
        customers=Customer.objects.filter(project=project).count(),
    )


def _add_heavy_customer(actor: Any) -> int:
    """One customer with 10,000 events over a year, tracked through the services."""
    from customers.demo import BROWSERS, PAGES, PRODUCTS
    from customers.services import customer_update, events_track_many

    rng = random.Random(10_000)
    tracked = customer_update(
        actor=actor,
        ids={"registered": HEAVY_EMAIL, "cookie": "ck-heavy-bench"},
        properties={
            "email": HEAVY_EMAIL,
            "first_name": "Heavy",
            "last_name": "Buyer",
            "city": "Vienna",
            "country": "AT",
            "plan": "business",
            "newsletter": True,
        },
    )
    now = time.time()
    events: list[tuple[str, float, dict[str, Any]]] = []
    for i in range(HEAVY_EVENTS):
        at = now - 365 * 86400 * (i / HEAVY_EVENTS)
        kind = rng.random()
        if kind < 0.6:
            events.append(
                (
                    "page_visit",
                    at,
                    {"url": "https://shop.example.com" + rng.choice(PAGES), "ip": "198.51.100.7"},
                )
            )
        elif kind < 0.85:
            events.append(
                ("session_start", at, {"browser": rng.choice(BROWSERS), "cookie_index": 0})
            )
        else:
            name, price = rng.choice(PRODUCTS)
            events.append(
                (
                    "purchase",
                    at,
                    {
                        "total": price,
                        "currency": "EUR",
                        "items": [name],
                        "shipping_address": "1 Ring St, Vienna",
                        "card_last4": "4242",
                    },
                )
            )
    for start in range(0, len(events), 2000):
        events_track_many(
            actor=actor, customer=tracked.customer, events=events[start : start + 2000]
        )
    print(f"heavy customer #{tracked.customer.pk} with {HEAVY_EVENTS} events")
    return tracked.customer.pk
