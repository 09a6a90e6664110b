"""Create the "Demo shop" project with customers, events, PII flags, two users and two keys."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from tqdm import tqdm

from access.models import ApiKey, Project, Role
from access.permissions import Perm
from access.selectors import principal_for_system
from access.services import (
    api_key_create,
    api_key_rotate,
    member_add,
    member_set_direct_grant,
    project_create,
    user_get_or_create,
)
from customers.demo import demo_customers
from customers.models import CustomerId
from customers.services import customer_identify, customer_update, events_track_many
from datamanager.services import pii_flags_set

PROJECT_NAME = "Demo shop"
USERS = [
    # username, password, role, personal data
    ("admin", "demo-admin-pass", "Admin", True),
    ("marketer", "demo-marketer-pass", "Marketer", False),
]
ALL_KEY_PERMS = list(ApiKey.PERMISSION_FIELDS)
API_KEYS = [
    ("Demo full access", ALL_KEY_PERMS),
    ("Demo without personal data", [p for p in ALL_KEY_PERMS if p != "view_personal_data"]),
]
PII_CUSTOMER = ["registered", "cookie", "email", "phone", "first_name", "last_name", "birth_date"]
PII_EVENTS = [("page_visit", "ip"), ("purchase", "shipping_address"), ("purchase", "card_last4")]


class Command(BaseCommand):
    help = "Seed the 'Demo shop' project with realistic customers, users and API keys (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers", type=int, default=500, help="How many customers (default 500)."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object with the credentials."
        )
        parser.add_argument(
            "--seed", type=int, default=2026, help="Random seed (same seed, same people)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        as_json: bool = options["json"]
        project = Project.objects.filter(name=PROJECT_NAME).order_by("id").first()
        if project is None:
            project = project_create(name=PROJECT_NAME, created_by="seed_demo")
        actor = principal_for_system(project, label="seed_demo")

        self._seed_customers(actor, options["customers"], options["seed"], quiet=as_json)
        pii_flags_set(
            actor=actor,
            customer_attributes={name: True for name in PII_CUSTOMER},
            event_attributes={pair: True for pair in PII_EVENTS},
        )
        users = self._seed_users(actor)
        keys = self._seed_keys(actor)
        result = {"project_token": str(project.token), "users": users, "api_keys": keys}
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(self.style.SUCCESS(f"Project '{project.name}' token {project.token}"))
        for u in users:
            pd = "with" if u["personal_data"] else "without"
            self.stdout.write(
                f"  user {u['username']} / {u['password']}  ({', '.join(u['roles'])}, {pd} personal data)"
            )
        for k in keys:
            self.stdout.write(f"  API key '{k['name']}': {k['key_id']}:{k['secret']}")

    def _seed_customers(self, actor: Any, count: int, seed: int, *, quiet: bool) -> None:
        people = list(demo_customers(count, now=time.time(), seed=seed))
        existing = set(
            CustomerId.objects.filter(
                project=actor.project,
                name="registered",
                value__in=[p.ids["registered"] for p in people],
            ).values_list("value", flat=True)
        )
        todo = [p for p in people if p.ids["registered"] not in existing]
        for person in tqdm(todo, desc="Demo customers", unit="customer", disable=quiet or not todo):
            with transaction.atomic():
                tracked = customer_update(actor=actor, ids=person.ids, properties=person.properties)
                for cookie in person.extra_cookies:
                    customer_identify(
                        actor=actor, ids={"registered": person.ids["registered"], "cookie": cookie}
                    )
                events_track_many(actor=actor, customer=tracked.customer, events=person.events)

    def _seed_users(self, actor: Any) -> list[dict[str, Any]]:
        out = []
        for username, password, role_name, personal_data in USERS:
            user = user_get_or_create(
                username=username, email=f"{username}@demo.invalid", password=password
            )
            role = Role.objects.get(project=actor.project, name=role_name)
            member_add(actor=actor, user=user, roles=[role])
            if personal_data and role_name != "Admin":
                member_set_direct_grant(
                    actor=actor, user=user, perm=Perm.VIEW_PERSONAL_DATA, granted=True
                )
            out.append(
                {
                    "username": username,
                    "password": password,
                    "roles": [role_name],
                    "personal_data": personal_data,
                }
            )
        return out

    def _seed_keys(self, actor: Any) -> list[dict[str, Any]]:
        out = []
        for name, perms in API_KEYS:
            key = ApiKey.objects.filter(
                project=actor.project, name=name, revoked_at__isnull=True
            ).first()
            if key is None:
                key, secret = api_key_create(actor=actor, name=name, permissions=perms)
            else:
                # The secret is stored only as a hash: re-seeding rotates it to print a working one.
                secret = api_key_rotate(actor=actor, api_key=key)
            out.append(
                {
                    "name": name,
                    "key_id": key.key_id,
                    "secret": secret,
                    "permissions": key.permission_names,
                }
            )
        return out
