"""Temporary reveals: what a member without Personal data receives before, during and after
a reveal, for its customer and for every other one, and the approval mode."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEvent, Role
from access.permissions import Perm
from access.services import member_roles_set, role_create
from accountability.models import PersonalDataAccess, RevealStatus, TemporaryReveal
from accountability.reveals import reveal_policy_set

from .. import factories
from ..conftest import CANARIES, CANARY_ADDRESS, CANARY_EMAIL, CANARY_IP, CANARY_NAME, World

pytestmark = pytest.mark.django_db

REASON = "The customer called support about a wrong delivery address, ticket 4711."
OTHER_EMAIL = "other.person@reveal.test"
OTHER_NAME = "Brunhildeq"


class Clock:
    """A frozen ``timezone.now`` that a test moves on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def support(world: World) -> Any:
    """A member without Personal data whose role may ask for a reveal (and export)."""
    role_create(
        actor=factories.system(world.project),
        name="Support",
        permissions=[Perm.VIEW_CUSTOMERS, Perm.EXPORT_CUSTOMERS, Perm.REQUEST_PERSONAL_DATA],
    )
    return factories.make_member(world.project, "sue", roles=("Support",))


@pytest.fixture
def other_customer(world: World) -> Any:
    return factories.track_customer(
        world.project,
        {"registered": OTHER_EMAIL},
        {"email": OTHER_EMAIL, "first_name": OTHER_NAME, "city": "Kosice"},
        [("page_visit", {"url": "https://shop.example.com/", "ip": "192.0.2.99"})],
    )


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def profile_url(world: World, pk: int) -> str:
    return reverse("customers:detail", kwargs={"token": world.project.token, "pk": pk})


def request_url(world: World, pk: int) -> str:
    return reverse("accountability:reveal_request", kwargs={"token": world.project.token, "pk": pk})


def text(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def ask(client: Client, world: World, pk: int, **data: Any) -> Any:
    return client.post(request_url(world, pk), {"reason": REASON, "minutes": "15", **data})


def leaked(body: str) -> list[str]:
    return [c for c in [*CANARIES, OTHER_EMAIL, OTHER_NAME] if c in body]


def every_other_page(world: World, other_pk: int) -> Iterator[str]:
    """Pages the member can open that are not the revealed customer's profile."""
    token = world.project.token
    yield profile_url(world, other_pk)
    yield reverse("customers:list", kwargs={"token": token})
    yield reverse("customers:list", kwargs={"token": token}) + "?columns=email,first_name"
    yield reverse("customers:export_csv", kwargs={"token": token})
    yield reverse("datamanager:catalog", kwargs={"token": token})


def test_before_during_and_after_the_window(
    world: World, support: Any, other_customer: Any, clock: Clock
) -> None:
    client = client_for(support)
    mine = profile_url(world, world.customer.pk)

    before = text(client.get(mine))
    assert leaked(before) == []
    assert "Reveal personal data" in before
    assert PersonalDataAccess.objects.count() == 0

    response = ask(client, world, world.customer.pk)
    assert response.status_code == 302
    reveal = TemporaryReveal.objects.get()
    assert reveal.status == RevealStatus.GRANTED
    assert reveal.expires_at == clock.now + dt.timedelta(minutes=15)

    clock.advance(minutes=1)
    during = text(client.get(mine))
    for value in (CANARY_EMAIL, CANARY_NAME, CANARY_IP, CANARY_ADDRESS):
        assert value in during
    assert "Personal data revealed to you" in during
    assert "Reveal personal data" not in during

    entry = PersonalDataAccess.objects.get()
    assert entry.channel == "reveal"
    assert entry.reason == REASON
    assert entry.actor_user == support
    assert entry.customer_ids == [world.customer.pk]
    assert "email" in entry.attribute_names and "page_visit.ip" in entry.attribute_names
    stored = json.dumps([entry.attribute_names, entry.filter, entry.view, entry.customer_ids])
    assert [c for c in CANARIES if c in stored] == []

    # Outside the reveal's customer nothing changes, during the window too.
    for url in every_other_page(world, other_customer.pk):
        body = text(client.get(url))
        assert leaked(body) == [], url
    assert PersonalDataAccess.objects.count() == 1

    clock.advance(minutes=13, seconds=59)
    assert CANARY_EMAIL in text(client.get(mine))  # still inside the window

    clock.advance(seconds=1)  # expires by itself: no job, the check is per request
    after = text(client.get(mine))
    assert leaked(after) == []
    assert "Reveal personal data" in after
    assert PersonalDataAccess.objects.count() == 2  # no entry after the window


def test_a_reveal_is_for_its_member_only(
    world: World, support: Any, other_customer: Any, clock: Clock
) -> None:
    ask(client_for(support), world, world.customer.pk)
    body = text(client_for(world.marketer).get(profile_url(world, world.customer.pk)))
    assert leaked(body) == []
    assert "Reveal personal data" not in body  # the Marketer role may not ask


def test_a_reveal_never_allows_filtering_sorting_or_exporting_by_pii(
    world: World, support: Any, clock: Clock
) -> None:
    client = client_for(support)
    ask(client, world, world.customer.pk)
    token = world.project.token
    refused = client.get(
        reverse("customers:list", kwargs={"token": token}),
        {"f": json.dumps([{"attribute": "email", "operator": "equals", "value": CANARY_EMAIL}])},
    )
    sorted_ = client.get(reverse("customers:list", kwargs={"token": token}), {"sort": "email"})
    for response in (refused, sorted_):
        assert leaked(text(response)) == []
    export = client.get(
        reverse("customers:export_csv", kwargs={"token": token}), {"columns": "email"}
    )
    assert leaked(text(export)) == []


def test_reason_and_duration_are_checked(world: World, support: Any) -> None:
    client = client_for(support)
    for data in (
        {"reason": "need it"},
        {"reason": "x" * 30},
        {"minutes": "4"},
        {"minutes": "61"},
        {"minutes": "ten"},
    ):
        response = ask(client, world, world.customer.pk, **data)
        assert response.status_code == 400, data
    assert TemporaryReveal.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="reveal.").exists()


def test_who_may_ask(world: World, support: Any) -> None:
    assert ask(client_for(world.marketer), world, world.customer.pk).status_code == 403
    # The Admin role holds the permission, and Personal data: nothing to reveal.
    assert ask(client_for(world.admin), world, world.customer.pk).status_code == 400
    # Personal data already: nothing to reveal.
    both = factories.make_member(world.project, "bo", roles=("Support",), personal_data=True)
    assert ask(client_for(both), world, world.customer.pk).status_code == 400
    other = factories.track_customer(world.other_project, {"registered": "x@other.test"})
    assert ask(client_for(support), world, other.pk).status_code == 404
    assert TemporaryReveal.objects.count() == 0


def test_approval_mode_blocks_until_approved(world: World, support: Any, clock: Clock) -> None:
    reveal_policy_set(
        actor=factories.principal_of(world.admin, world.project), requires_approval=True
    )
    client = client_for(support)
    mine = profile_url(world, world.customer.pk)
    ask(client, world, world.customer.pk)
    reveal = TemporaryReveal.objects.get()
    assert reveal.status == RevealStatus.PENDING
    waiting = text(client.get(mine))
    assert leaked(waiting) == []
    assert "waiting for an administrator" in waiting

    admin = client_for(world.admin)
    reveals_page = text(
        admin.get(reverse("accountability:reveals", kwargs={"token": world.project.token}))
    )
    assert REASON in reveals_page and "Approve" in reveals_page
    # Approving needs manage_access.
    approve = reverse(
        "accountability:reveal_approve",
        kwargs={"token": world.project.token, "reveal_id": reveal.pk},
    )
    assert client.post(approve).status_code == 403
    clock.advance(minutes=30)  # the window starts at the approval, not the request
    assert admin.post(approve).status_code == 302
    reveal.refresh_from_db()
    assert reveal.status == RevealStatus.GRANTED and reveal.expires_at == clock.now + dt.timedelta(
        minutes=15
    )
    assert CANARY_EMAIL in text(client.get(mine))
    assert AuditEvent.objects.filter(action="reveal.approve", actor_user=world.admin).exists()


def test_denied_request_reveals_nothing(world: World, support: Any) -> None:
    reveal_policy_set(
        actor=factories.principal_of(world.admin, world.project), requires_approval=True
    )
    client = client_for(support)
    ask(client, world, world.customer.pk)
    reveal = TemporaryReveal.objects.get()
    deny = reverse(
        "accountability:reveal_deny", kwargs={"token": world.project.token, "reveal_id": reveal.pk}
    )
    assert client_for(world.admin).post(deny).status_code == 302
    assert leaked(text(client.get(profile_url(world, world.customer.pk)))) == []
    assert client_for(world.admin).post(deny).status_code == 400  # decided already


def test_ending_early_masks_again(world: World, support: Any, clock: Clock) -> None:
    client = client_for(support)
    ask(client, world, world.customer.pk)
    reveal = TemporaryReveal.objects.get()
    end = reverse(
        "accountability:reveal_end", kwargs={"token": world.project.token, "reveal_id": reveal.pk}
    )
    assert client_for(world.marketer).post(end).status_code == 403  # not theirs, no manage_access
    assert client.post(end).status_code == 302
    assert leaked(text(client.get(profile_url(world, world.customer.pk)))) == []
    assert AuditEvent.objects.filter(action="reveal.end").count() == 1


def test_every_step_is_audited_without_values(world: World, support: Any) -> None:
    ask(client_for(support), world, world.customer.pk)
    event = AuditEvent.objects.get(action="reveal.grant")
    assert event.actor_user == support
    assert event.target_id == str(world.customer.pk)
    assert event.details["minutes"] == 15 and event.details["reason"] == REASON
    assert [c for c in CANARIES if c in json.dumps(event.details)] == []


def test_a_second_request_returns_the_open_reveal(world: World, support: Any) -> None:
    client = client_for(support)
    ask(client, world, world.customer.pk)
    ask(client, world, world.customer.pk, minutes="60")
    assert TemporaryReveal.objects.count() == 1


def test_losing_the_permission_ends_an_open_reveal(world: World, support: Any) -> None:
    client = client_for(support)
    ask(client, world, world.customer.pk)
    assert CANARY_EMAIL in text(client.get(profile_url(world, world.customer.pk)))
    member_roles_set(
        actor=factories.system(world.project),
        user=support,
        roles=[Role.objects.get(project=world.project, name="Viewer")],
    )
    assert leaked(text(client.get(profile_url(world, world.customer.pk)))) == []
