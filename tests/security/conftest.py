"""Fixtures for the leak hunt: the shared canary world plus more canary customers and a
principal without Personal data that holds every other permission.

Canaries are unique strings (see ``tests/conftest.py``); this module adds a second set with
recognisable shapes and one NON-PII control value, which a restricted principal MUST see —
proof that the crawl reached customer data at all.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from access.permissions import Perm
from access.services import role_create
from datamanager.ids import customer_id_create
from tests import factories
from tests.conftest import CANARIES, World

# More canaries, one customer each, so lists, pagination and exports carry them on every page.
EXTRA_CUSTOMERS = 30
EXTRA_CANARY = re.compile(
    r"canary\.\d{3}@leak\.test|Qwzrtle\d{3}|\+421 900 222 \d{3}|198\.51\.100\.\d{1,3}|Canary Lane \d+"
)
# Stored in a property that is NOT personal data: everyone with view_customers sees it.
CONTROL_VALUE = "Quokkaville-visible"


# One pattern per kind of personal data, matching the shared and the extra canaries alike.
CANARY_KINDS = {
    "email": re.compile(r"canary\.(x91|\d{3})@leak\.test"),
    "phone": re.compile(r"\+421 900 (111 919|222 \d{3})"),
    "name": re.compile(r"Zyxwvonia|Qwzrtle\d{3}"),
    "ip (event)": re.compile(r"203\.0\.113\.77|198\.51\.100\.\d{1,3}"),
    "address (event)": re.compile(r"77 Canary Row, Leakville|Canary Lane \d+"),
}


def canary_kinds_missing(text: str) -> list[str]:
    """Kinds of personal data of which no canary occurs in ``text``."""
    return [kind for kind, rx in CANARY_KINDS.items() if not rx.search(text)]


def canaries_in(text: str) -> list[str]:
    """Every canary value (shared and extra) found in ``text``."""
    found = [c for c in CANARIES if c in text]
    found.extend(sorted(set(EXTRA_CANARY.findall(text))))
    return found


@dataclass
class LeakWorld:
    world: World
    power_user: Any  # every permission except Personal data
    power_key: factories.KeyCredentials  # every key permission except view_personal_data

    @property
    def token(self) -> str:
        return str(self.world.project.token)


def _track_extra_canaries(world: World) -> None:
    project = world.project
    # Project-defined IDs (issue 15) carry canaries too: a hard one and a soft one, both PII,
    # so every crawled page and API answer is searched for custom-ID values as well.
    actor = factories.system(project)
    customer_id_create(actor=actor, name="crm_id", hard=True, pii=True)
    customer_id_create(actor=actor, name="phone_id", hard=False, pii=True)
    for i in range(EXTRA_CUSTOMERS):
        email = f"canary.{i:03d}@leak.test"
        factories.track_customer(
            project,
            {
                "registered": email,
                "cookie": f"ck-leak-{i:03d}",
                "crm_id": f"Qwzrtle{i:03d}",
                "phone_id": f"+421 900 222 {i:03d}",
            },
            {
                "email": email,
                "phone": f"+421 900 222 {i:03d}",
                "first_name": f"Qwzrtle{i:03d}",
                "city": CONTROL_VALUE,
                "plan": "basic",
            },
            [
                ("page_visit", {"url": "https://shop.example.com/", "ip": f"198.51.100.{i}"}),
                ("purchase", {"total": 10 + i, "shipping_address": f"Canary Lane {i}"}),
            ],
        )
    # The shared canary customer carries the control value too.
    world.customer.properties["city"] = CONTROL_VALUE
    world.customer.save(update_fields=["properties"])


@pytest.fixture
def leak_world(world: World) -> LeakWorld:
    _track_extra_canaries(world)
    actor = factories.system(world.project)
    everything_but_pd = [p for p in Perm if p not in {Perm.VIEW_PERSONAL_DATA, Perm.TRACK}]
    role = role_create(actor=actor, name="Everything but PII", permissions=everything_but_pd)
    power_user = factories.make_member(world.project, "powerless-pii", roles=(role.name,))
    power_key = factories.make_key(
        world.project,
        "track",
        "read_customers",
        "export_customers",
        "anonymize_customers",
        "manage_data",
        "view_access_log",
        name="Everything but PII",
    )
    _maybe_seed_job(world)
    _seed_consents(world)
    _seed_erasure_safeguards(world)
    _fill_access_log(world)
    return LeakWorld(world=world, power_user=power_user, power_key=power_key)


def _seed_consents(world: World) -> None:
    """A consent category and the canary customer's consent event whose ``message`` (flagged
    PII) holds a canary: the consent page and customers/attributes {type: consent} carry it."""
    from consents.services import consent_category_create
    from customers.services import event_track
    from datamanager.services import pii_flags_set
    from tests.conftest import CANARY_EMAIL

    actor = factories.system(world.project)
    consent_category_create(actor=actor, name="newsletter")
    event_track(
        actor=actor,
        ids={"registered": CANARY_EMAIL},
        event_type="consent",
        timestamp=1_700_000_100,
        properties={
            "action": "accept",
            "category": "newsletter",
            "valid_until": "unlimited",
            "message": f"Agreed by {CANARY_EMAIL}",
        },
    )
    pii_flags_set(actor=actor, event_attributes={("consent", "message"): True})


def _fill_access_log(world: World) -> None:
    """The admin views the canary customer and exports: the access log and the customer's
    access history have entries when the crawls and the API hunt reach them."""
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(world.admin)
    token = world.project.token
    client.get(reverse("customers:detail", kwargs={"token": token, "pk": world.customer.pk}))
    b"".join(client.get(reverse("customers:export_csv", kwargs={"token": token})))


def _seed_erasure_safeguards(world: World) -> None:
    """Issue 17's pages with content: a customer that held canaries (in PII attributes and
    as leftovers in a note and a url) anonymized by a job (receipts on the job page, its
    profile and the JSON), a suppressed hard ID, and a legal hold on another customer."""
    from customers.services.anonymization_jobs import (
        anonymization_job_create,
        anonymization_job_run_all,
    )
    from customers.services.legal_hold import legal_hold_place
    from tests.conftest import CANARY_EMAIL, CANARY_NAME

    erased = factories.track_customer(
        world.project,
        {"registered": "erased-victim@example.org"},
        {"email": CANARY_EMAIL, "first_name": CANARY_NAME, "note": f"Called {CANARY_NAME}"},
        [("page_visit", {"url": f"https://shop.example.com/?e={CANARY_EMAIL}"})],
    )
    held = factories.track_customer(
        world.project, {"registered": "held-victim@example.org"}, {"plan": "free"}
    )
    actor = factories.principal_of(world.admin, world.project)
    legal_hold_place(actor=actor, customer_pk=held.pk, reason="Case 2026-17")
    job = anonymization_job_create(
        actor=actor, customers=[erased.pk, held.pk], source="app", start=False
    )
    anonymization_job_run_all(job_id=job.pk)


def _maybe_seed_job(world: World) -> None:
    """An anonymization job over a NON-canary customer, so the job pages have something to show.

    Created through the anonymization service when it exists (it lands in parallel work);
    without it the job pages are simply crawled empty.
    """
    try:
        from customers.services import anonymization_jobs as anonymization
    except ImportError:
        return
    create = getattr(anonymization, "anonymization_job_create", None)
    if create is None:
        return
    victim = factories.track_customer(
        world.project, {"registered": "job-victim@example.org"}, {"plan": "free"}
    )
    try:
        create(
            actor=factories.principal_of(world.admin, world.project),
            customers=[victim.pk],
            source="app",
            start=False,
        )
    except TypeError:
        logging.getLogger(__name__).warning("anonymization_job_create changed its signature")


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def start_urls(token: str) -> list[str]:
    """Where a user starts: home, the project, and pages a user can reach by typing — every
    parameterless page of the project (403 pages for what the user may not open) and 404s."""
    from .crawler import iter_routes

    typed = [
        route.build({"token": token})
        for route in iter_routes()
        if route.route.startswith("projects/")
        and [name for _, name in route.params] == ["token"]
        and "get" in route.allowed_methods()
    ]
    return [
        *typed,
        "/",
        f"/projects/{token}/",
        "/no-such-page/",
        f"/projects/{token}/no-such-page/",
        f"/projects/{token}/customers/999999999/",
        "/projects/00000000-0000-0000-0000-000000000000/",
        "/api/docs/",
        "/api/schema/",
    ]
