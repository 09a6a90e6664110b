"""No silent re-identification (issue 17, item 4), through /batch, single calls and the SDK.

After the canary customer is anonymized, a tracking command carrying its former e-mail (a
hard ID) creates no customer: ``/batch`` answers that command with ``success: false`` and
processes the others, a single call answers 403 in Exponea's error shape, the SDK gets
``False`` for the batch command and an ``APIException`` for a single call. The counter
counts the refusals; an admin lifts the suppression by typing the value in.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from exponea_python_sdk import Exponea
from exponea_python_sdk.exceptions import APIException

from access.models import AuditEvent
from access.selectors import principal_for_user
from customers.models import CustomerId, ErasureSettings, SuppressedIdentity
from customers.services.anonymization import customer_anonymize_one
from customers.services.suppression import IdentitySuppressed
from tests.api.conftest import ApiClient
from tests.conftest import CANARY_EMAIL, World


def _anonymize(world: World) -> None:
    actor = principal_for_user(world.admin, world.project)
    customer_anonymize_one(actor=actor, source="app", customer_pk=world.customer.pk)


def _owners(value: str) -> int:
    return CustomerId.objects.filter(name="registered", value=value).count()


def _command(email: str, plan: str = "gold") -> dict[str, Any]:
    return {
        "name": "customers",
        "data": {"customer_ids": {"registered": email}, "properties": {"plan": plan}},
    }


def _lift(world: World, value: str) -> Any:
    client = Client()
    client.force_login(world.admin)
    return client.post(
        reverse("customers:suppression_lift", kwargs={"token": world.project.token}),
        {"id_name": "registered", "value": value},
    )


@pytest.mark.django_db
def test_batch_with_a_suppressed_id_creates_no_customer_until_lifted(
    world: World, full: ApiClient
) -> None:
    _anonymize(world)
    assert SuppressedIdentity.objects.filter(project=world.project).count() == 1
    response = full.track("batch", {"commands": [_command(CANARY_EMAIL), _command("new@x.test")]})
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["success"] is False and "suppressed" in first["errors"][0]
    assert CANARY_EMAIL not in response.content.decode()
    assert second == {"success": True}
    assert _owners(CANARY_EMAIL) == 0 and _owners("new@x.test") == 1

    single = full.track("customers", _command(CANARY_EMAIL)["data"])
    assert single.status_code == 403
    assert single.json()["success"] is False
    event = full.track(
        "customers/events",
        {"customer_ids": {"registered": CANARY_EMAIL}, "event_type": "visit", "properties": {}},
    )
    assert event.status_code == 403
    assert _owners(CANARY_EMAIL) == 0
    assert SuppressedIdentity.objects.get(project=world.project).refused == 3

    client = Client()
    client.force_login(world.admin)
    page = client.get(reverse("customers:holds", kwargs={"token": world.project.token}))
    text = page.content.decode()
    assert "data-suppressed-count>1<" in text and "data-refused-count>3<" in text

    # A wrong value lifts nothing; the right one does, audited with the ID name only.
    assert _lift(world, "other@x.test").status_code == 302
    assert SuppressedIdentity.objects.filter(project=world.project).count() == 1
    assert _lift(world, CANARY_EMAIL).status_code == 302
    assert not SuppressedIdentity.objects.filter(project=world.project).exists()
    lifts = AuditEvent.objects.filter(action="suppression.lift").order_by("id")
    assert [e.details for e in lifts] == [
        {"id_name": "registered", "found": False},
        {"id_name": "registered", "found": True},
    ]
    again = full.track("batch", {"commands": [_command(CANARY_EMAIL)]})
    assert again.json()["results"] == [{"success": True}]
    assert _owners(CANARY_EMAIL) == 1


@pytest.mark.django_db
def test_lifting_needs_access_management(world: World) -> None:
    _anonymize(world)
    client = Client()
    client.force_login(world.marketer)
    response = client.post(
        reverse("customers:suppression_lift", kwargs={"token": world.project.token}),
        {"id_name": "registered", "value": CANARY_EMAIL},
    )
    assert response.status_code == 403
    assert SuppressedIdentity.objects.filter(project=world.project).count() == 1


@pytest.mark.django_db
def test_with_suppression_off_the_id_starts_a_new_profile(world: World, full: ApiClient) -> None:
    ErasureSettings.objects.create(project=world.project, suppress_erased_ids=False)
    _anonymize(world)
    assert not SuppressedIdentity.objects.exists()
    response = full.track("batch", {"commands": [_command(CANARY_EMAIL)]})
    assert response.json()["results"] == [{"success": True}]
    assert _owners(CANARY_EMAIL) == 1


@pytest.mark.django_db(transaction=True)
def test_sdk_cannot_recreate_an_erased_customer(world: World, live_server: Any) -> None:
    logging.getLogger("exponea-python-sdk").setLevel(logging.CRITICAL)
    _anonymize(world)
    client = Exponea(
        str(world.project.token),
        username=world.full_key.key.key_id,
        password=world.full_key.secret,
        url=live_server.url,
    )
    results = client.tracking.batch_commands([_command(CANARY_EMAIL), _command("sdk-new@x.test")])
    assert results == [False, True]
    with pytest.raises(APIException):
        client.tracking.update_customer_properties({"registered": CANARY_EMAIL}, {"plan": "x"})
    assert _owners(CANARY_EMAIL) == 0 and _owners("sdk-new@x.test") == 1
    assert SuppressedIdentity.objects.get(project=world.project).refused == 2


@pytest.mark.django_db
@pytest.mark.parametrize("call", ["customer_update", "event_track"])
def test_an_anonymization_committing_after_the_first_check_still_refuses(
    world: World, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """The race the first check cannot see: the tracking call checked suppression, then the
    anonymization committed, then the call wrote. The check inside the tracking transaction
    (after the customers are identified) refuses it, writes nothing and counts it."""
    from customers.services import tracking

    real = tracking.suppression_check
    state = {"anonymized": False}

    def check_then_anonymization_commits(*args: Any) -> None:
        real(*args)
        if not state["anonymized"]:
            state["anonymized"] = True
            _anonymize(world)

    monkeypatch.setattr(tracking, "suppression_check", check_then_anonymization_commits)
    actor = world.full_key.principal  # a tracking key
    ids = {"registered": CANARY_EMAIL}
    before = CustomerId.objects.count()
    with pytest.raises(IdentitySuppressed):
        if call == "customer_update":
            tracking.customer_update(actor=actor, ids=ids, properties={"plan": "gold"})
        else:
            tracking.event_track(actor=actor, ids=ids, event_type="page_visit", properties={})
    assert state["anonymized"]
    assert _owners(CANARY_EMAIL) == 0
    assert CustomerId.objects.count() <= before
    assert SuppressedIdentity.objects.get(project=world.project).refused == 1


@pytest.mark.django_db
def test_a_batch_that_passed_the_first_check_before_an_anonymization_committed_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/batch: the second check inside the write's transaction sees the anonymization that
    committed after the first one; the batch starts over, refuses that command, writes the
    others."""
    from customers.services import tracking_batch as batch

    real = batch.suppressed_positions
    state = {"anonymized": False}

    def check_then_anonymization_commits(*args: Any) -> dict[int, str]:
        found = real(*args)
        if not state["anonymized"]:
            state["anonymized"] = True
            _anonymize(world)
        return found

    monkeypatch.setattr(batch, "suppressed_positions", check_then_anonymization_commits)
    results = batch.tracking_batch(
        actor=world.full_key.principal,
        commands=[_command(CANARY_EMAIL), _command("new@x.test")],
    )
    assert state["anonymized"]
    assert results[0]["success"] is False and "suppressed" in results[0]["errors"][0]
    assert results[1] == {"success": True}
    assert _owners(CANARY_EMAIL) == 0 and _owners("new@x.test") == 1
    assert SuppressedIdentity.objects.get(project=world.project).refused == 1
