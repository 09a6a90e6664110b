"""Fixtures shared by every test: a project with PII flags, users with and without Personal data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from access.models import Project
from customers.models import Customer
from datamanager.services import pii_flags_set

from . import factories

# Canary values: they appear nowhere else, so finding one in output is unambiguous.
CANARY_EMAIL = "canary.x91@leak.test"
CANARY_PHONE = "+421 900 111 919"
CANARY_NAME = "Zyxwvonia"
CANARY_IP = "203.0.113.77"
CANARY_ADDRESS = "77 Canary Row, Leakville"
CANARIES = [CANARY_EMAIL, CANARY_PHONE, CANARY_NAME, CANARY_IP, CANARY_ADDRESS]


@dataclass
class World:
    project: Project
    other_project: Project
    admin: Any  # may see personal data
    marketer: Any  # may not
    outsider: Any  # member of the other project only
    customer: Customer  # carries the canaries
    full_key: factories.KeyCredentials
    masked_key: factories.KeyCredentials


@pytest.fixture
def world(db: Any) -> World:
    project = factories.make_project("Shop")
    other = factories.make_project("Other shop")
    admin = factories.make_member(project, "alice", roles=("Admin",))
    marketer = factories.make_member(project, "mark", roles=("Marketer",))
    outsider = factories.make_member(other, "olga", roles=("Admin",))
    customer = factories.track_customer(
        project,
        {"registered": CANARY_EMAIL, "cookie": "ck-canary-1"},
        {
            "email": CANARY_EMAIL,
            "phone": CANARY_PHONE,
            "first_name": CANARY_NAME,
            "city": "Bratislava",
            "plan": "premium",
        },
        [
            ("page_visit", {"url": "https://shop.example.com/sale", "ip": CANARY_IP}),
            (
                "purchase",
                {"total": 42.5, "shipping_address": CANARY_ADDRESS, "items": ["Backpack"]},
            ),
        ],
    )
    pii_flags_set(
        actor=factories.system(project),
        customer_attributes={
            "registered": True,
            "cookie": True,
            "email": True,
            "phone": True,
            "first_name": True,
        },
        event_attributes={("page_visit", "ip"): True, ("purchase", "shipping_address"): True},
    )
    full_key = factories.make_key(
        project,
        "track",
        "read_customers",
        "view_personal_data",
        "export_customers",
        "anonymize_customers",
        "manage_data",
        "view_access_log",
        name="Full",
    )
    masked_key = factories.make_key(
        project, "track", "read_customers", "export_customers", "anonymize_customers", name="Masked"
    )
    return World(project, other, admin, marketer, outsider, customer, full_key, masked_key)


def assert_no_canary(text: str) -> None:
    """Fail if any canary value appears in ``text``."""
    found = [c for c in CANARIES if c in text]
    assert not found, f"PII leaked: {found}"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Each test starts with an empty cache: ids repeat across tests, cached catalogs must not."""
    from django.core.cache import cache

    cache.clear()
    yield
