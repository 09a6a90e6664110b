"""Legal hold (issue 17, item 3): a held customer is refused by every anonymization path.

Profile and API answer a clear 409 and change nothing; a bulk job skips the customer and
marks its item as held; lifting the hold makes anonymization work again. Placing and
lifting need ``anonymize_customers`` and are audited without the reason's text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from access.selectors import principal_for_user
from customers.models import AnonymizationJobItem, Customer, LegalHold
from customers.services.anonymization_jobs import (
    anonymization_job_create,
    anonymization_job_run_all,
)
from customers.services.legal_hold import legal_hold_place
from tests import factories
from tests.conftest import CANARY_EMAIL, World

REASON = "Litigation 2026-114 (court order)"


def _admin_client(world: World) -> Client:
    client = Client()
    client.force_login(world.admin)
    return client


def _hold(world: World, client: Client, pk: int) -> Any:
    url = reverse("customers:hold_place", kwargs={"token": world.project.token, "pk": pk})
    return client.post(url, {"reason": REASON})


def test_profile_hold_refuses_anonymization_until_lifted(world: World) -> None:
    client = _admin_client(world)
    pk = world.customer.pk
    assert _hold(world, client, pk).status_code == 302
    profile = reverse("customers:detail", kwargs={"token": world.project.token, "pk": pk})
    page = client.get(profile).content.decode()
    assert "On hold" in page and REASON in page

    anonymize = reverse("customers:anonymize", kwargs={"token": world.project.token, "pk": pk})
    refused = client.post(anonymize)
    assert refused.status_code == 409
    assert "legal hold" in refused.content.decode()
    customer = Customer.objects.get(pk=pk)
    assert customer.anonymized_at is None and customer.properties["email"] == CANARY_EMAIL

    lift = reverse("customers:hold_lift", kwargs={"token": world.project.token, "pk": pk})
    assert client.post(lift).status_code == 302
    assert not LegalHold.objects.filter(customer_id=pk).exists()
    assert client.post(anonymize).status_code == 302
    assert Customer.objects.get(pk=pk).anonymized_at is not None

    actions = list(
        AuditEvent.objects.filter(target_id=str(pk), action__startswith="customer.legal_hold")
        .order_by("id")
        .values_list("action", "details")
    )
    assert [a for a, _ in actions] == ["customer.legal_hold", "customer.legal_hold_lift"]
    assert REASON not in json.dumps([d for _, d in actions])


def test_api_anonymize_of_held_customer_is_409_in_exponea_shape(world: World) -> None:
    legal_hold_place(
        actor=factories.system(world.project), customer_pk=world.customer.pk, reason=REASON
    )
    response = Client().post(
        f"/data/v2/projects/{world.project.token}/customers/anonymize",
        data=json.dumps({"customer_ids": {"registered": CANARY_EMAIL}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )
    assert response.status_code == 409
    body = response.json()
    assert body["success"] is False and "legal hold" in " ".join(body["errors"])
    assert Customer.objects.get(pk=world.customer.pk).anonymized_at is None


def test_bulk_job_skips_held_customer_and_reports_it(world: World) -> None:
    other = factories.track_customer(world.project, {"registered": "free@x.test"}, {"plan": "a"})
    actor = principal_for_user(world.admin, world.project)
    legal_hold_place(actor=actor, customer_pk=world.customer.pk, reason=REASON)
    job = anonymization_job_create(
        actor=actor, source="app", customers=[world.customer.pk, other.pk], start=False
    )
    job = anonymization_job_run_all(job_id=job.pk)
    assert job.status == "done"
    assert Customer.objects.get(pk=world.customer.pk).anonymized_at is None
    assert Customer.objects.get(pk=other.pk).anonymized_at is not None
    held = AnonymizationJobItem.objects.get(job=job, customer_id=world.customer.pk)
    assert held.held and held.done
    assert not AnonymizationJobItem.objects.get(job=job, customer_id=other.pk).held
    client = _admin_client(world)
    page = client.get(
        reverse("customers:job", kwargs={"token": world.project.token, "public_id": job.public_id})
    ).content.decode()
    assert "1 customer skipped (not anonymized): on legal hold" in page


def test_hold_needs_anonymize_permission_and_is_listed(world: World) -> None:
    marketer = Client()
    marketer.force_login(world.marketer)
    assert _hold(world, marketer, world.customer.pk).status_code == 403
    assert not LegalHold.objects.exists()

    client = _admin_client(world)
    assert _hold(world, client, world.customer.pk).status_code == 302
    # A second hold and an empty reason are clear 4xx errors, nothing written.
    assert _hold(world, client, world.customer.pk).status_code == 409
    url = reverse(
        "customers:hold_place", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )
    assert client.post(url, {"reason": "  "}).status_code == 400
    holds = client.get(reverse("customers:holds", kwargs={"token": world.project.token}))
    assert holds.status_code == 200
    text = holds.content.decode()
    assert REASON in text and f"#{world.customer.pk}" in text
    assert (
        marketer.get(reverse("customers:holds", kwargs={"token": world.project.token})).status_code
        == 403
    )


@pytest.mark.parametrize("reason", ["", None, "x" * 501])
def test_bad_reason_is_refused(world: World, reason: Any) -> None:
    from access.errors import InvalidInput

    with pytest.raises(InvalidInput):
        legal_hold_place(
            actor=factories.system(world.project), customer_pk=world.customer.pk, reason=reason
        )
    assert not LegalHold.objects.exists()
