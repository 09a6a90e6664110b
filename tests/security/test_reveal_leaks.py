"""The leak hunt with a temporary reveal in force: a member without Personal data who may see
one customer's values for a few minutes must receive them on that customer's profile only,
and nowhere after the window. A planted leak in the reveal check (another customer, or
past the expiry) must be caught by the same crawl.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

import accountability.reveals as reveals
from access.permissions import Perm
from access.services import role_create
from accountability.reveals import reveal_request
from customers.models import Customer
from tests import factories

from .conftest import LeakWorld, canaries_in, signed_in, start_urls
from .crawler import Crawler, Fetched

pytestmark = pytest.mark.django_db

REASON = "The customer asked support to correct the delivery address, ticket 4711."
REVEALED = ["canary.007@leak.test", "Qwzrtle007", "+421 900 222 007"]
REVEALED_EVENTS = ["198.51.100.7", "Canary Lane 7"]


def _setup(leak_world: LeakWorld) -> tuple[Any, Customer]:
    project = leak_world.world.project
    role_create(
        actor=factories.system(project),
        name="Support",
        permissions=[Perm.VIEW_CUSTOMERS, Perm.EXPORT_CUSTOMERS, Perm.REQUEST_PERSONAL_DATA],
    )
    sue = factories.make_member(project, "sue-support", roles=("Support",))
    customer = Customer.objects.get(project=project, properties__email=REVEALED[0])
    reveal_request(
        actor=factories.principal_of(sue, project),
        customer_pk=customer.pk,
        reason=REASON,
        minutes=15,
    )
    return sue, customer


def _crawl(user: Any, leak_world: LeakWorld, customer: Customer, limit: int = 300) -> Crawler:
    profile = f"/projects/{leak_world.token}/customers/{customer.pk}/"
    crawler = Crawler(signed_in(user), max_requests=limit)
    crawler.crawl([profile, *start_urls(leak_world.token)])
    return crawler


def _is_revealed_profile(f: Fetched, leak_world: LeakWorld, customer: Customer) -> bool:
    path = f.url.split("?", 1)[0].split("#", 1)[0]
    return f.method == "GET" and path == f"/projects/{leak_world.token}/customers/{customer.pk}/"


def _leaks_outside(
    fetched: list[Fetched], leak_world: LeakWorld, customer: Customer
) -> list[tuple[str, list[str]]]:
    out = []
    allowed = set(REVEALED + REVEALED_EVENTS)
    for f in fetched:
        found = canaries_in(f.everything())
        if not _is_revealed_profile(f, leak_world, customer):
            if found:
                out.append((f.url, found))
        elif set(found) - allowed:
            out.append((f.url, sorted(set(found) - allowed)))
    return out


def _move_clock(monkeypatch: pytest.MonkeyPatch, **delta: float) -> None:
    later = timezone.now() + dt.timedelta(**delta)
    monkeypatch.setattr(timezone, "now", lambda: later)


def test_during_a_reveal_only_its_customer_profile_carries_values(leak_world: LeakWorld) -> None:
    sue, customer = _setup(leak_world)
    crawler = _crawl(sue, leak_world, customer)
    assert _leaks_outside(crawler.fetched, leak_world, customer) == []
    profile = [f for f in crawler.fetched if _is_revealed_profile(f, leak_world, customer)]
    seen = "\n".join(f.body for f in profile)
    # Proof that the crawl reached the reveal: its values are on its profile.
    assert [v for v in REVEALED + REVEALED_EVENTS if v not in seen] == []
    assert "no-store" in next(
        line for f in profile for line in f.headers.splitlines() if "Cache-Control" in line
    )
    assert [(f.url, f.status) for f in crawler.fetched if f.status >= 500] == []


def test_after_the_window_nothing_carries_values(
    leak_world: LeakWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    sue, customer = _setup(leak_world)
    _move_clock(monkeypatch, minutes=15, seconds=1)
    crawler = _crawl(sue, leak_world, customer)
    assert [
        (f.url, canaries_in(f.everything())) for f in crawler.fetched if canaries_in(f.everything())
    ] == []


def test_a_reveal_check_that_ignores_the_customer_is_caught(
    leak_world: LeakWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    sue, customer = _setup(leak_world)
    original = reveals.reveal_in_force

    def any_customer(principal: Any, customer_pk: int) -> Any:
        return original(principal, customer.pk)  # the plant: the customer is not checked

    monkeypatch.setattr(reveals, "reveal_in_force", any_customer)
    crawler = _crawl(sue, leak_world, customer, limit=60)
    assert _leaks_outside(crawler.fetched, leak_world, customer), (
        "a reveal check that ignores the customer went unnoticed"
    )


def test_a_reveal_check_that_ignores_the_expiry_is_caught(
    leak_world: LeakWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    sue, customer = _setup(leak_world)
    real_now = timezone.now
    original = reveals.reveal_in_force

    def never_expires(principal: Any, customer_pk: int) -> Any:
        with monkeypatch.context() as m:  # the plant: checked against the request time
            m.setattr(timezone, "now", real_now)
            return original(principal, customer_pk)

    _move_clock(monkeypatch, minutes=16)
    monkeypatch.setattr(reveals, "reveal_in_force", never_expires)
    crawler = _crawl(sue, leak_world, customer, limit=40)
    found = {c for f in crawler.fetched for c in canaries_in(f.everything())}
    assert REVEALED[0] in found, "a reveal that never expires went unnoticed"
