"""Erasure receipt and leftover check (issue 17, item 5).

Before an anonymization removes the values, it looks for them in what stays: an e-mail
inside a page_visit ``url`` and a name inside a free-text ``note`` property are found,
reported by attribute name only and replaced by ``******``; the receipt (page and JSON)
never holds a removed value.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from access.selectors import principal_for_user
from customers.models import Customer, ErasureReceipt, ErasureSettings, Event
from customers.services.anonymization import customer_anonymize_one
from customers.services.anonymization_jobs import (
    anonymization_job_create,
    anonymization_job_run_all,
)
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, CANARY_NAME, World, assert_no_canary

URL = f"https://shop.example.com/confirm?email={CANARY_EMAIL.upper()}&x=1"
NOTE = f"Called {CANARY_NAME} about the refund."


@pytest.fixture
def leftovers(world: World) -> Customer:
    """The canary customer, with its e-mail in a url and its name in a note (both non-PII)."""
    factories.track_customer(
        world.project,
        {"registered": CANARY_EMAIL},
        {"note": NOTE},
        [("page_visit", {"url": URL, "ip": "198.51.100.1"})],
    )
    return Customer.objects.get(pk=world.customer.pk)


def _anonymize(world: World) -> ErasureReceipt:
    actor = principal_for_user(world.admin, world.project)
    customer_anonymize_one(actor=actor, source="app", customer_pk=world.customer.pk)
    return ErasureReceipt.objects.get(customer_id=world.customer.pk)


def test_leftovers_in_a_url_and_a_note_are_found_and_cleared(
    world: World, leftovers: Customer
) -> None:
    receipt = _anonymize(world)
    customer = Customer.objects.get(pk=world.customer.pk)
    assert customer.properties["note"] == "Called ****** about the refund."
    assert customer.properties["plan"] == "premium"  # non-PII without a match is kept
    urls = list(
        Event.objects.filter(customer=customer, event_type__name="page_visit").values_list(
            "properties__url", flat=True
        )
    )
    assert "https://shop.example.com/confirm?email=******&x=1" in urls
    assert "https://shop.example.com/sale" in urls
    events = Event.objects.filter(customer=customer).values_list("properties", flat=True)
    stored = json.dumps([customer.properties, *events])
    assert_no_canary(stored)

    assert receipt.leftovers_cleared is True
    assert receipt.leftovers == [
        {"where": "event", "event_type": "page_visit", "attribute": "url", "count": 1},
        {"where": "property", "event_type": "", "attribute": "note", "count": 1},
    ]
    assert set(receipt.properties) == {"email", "first_name", "phone"}
    assert receipt.id_names == ["cookie", "registered"]
    assert ["page_visit", "ip"] in receipt.event_attributes
    assert ["purchase", "shipping_address"] in receipt.event_attributes
    assert receipt.events_cleared == 3  # two page visits with an ip, one purchase
    assert receipt.ids_suppressed == 1  # the one hard ID, registered
    assert receipt.actor_label == world.admin.username


def test_receipt_page_and_json_name_attributes_only(world: World, leftovers: Customer) -> None:
    receipt = _anonymize(world)
    client = Client()
    client.force_login(world.admin)
    token = world.project.token
    profile = client.get(
        reverse("customers:detail", kwargs={"token": token, "pk": world.customer.pk})
    )
    page = profile.content.decode()
    assert "Erasure receipt" in page and "<code>page_visit.url</code> (1)" in page
    assert_no_canary(page)
    download = client.get(
        reverse("customers:receipt_json", kwargs={"token": token, "receipt_id": receipt.public_id})
    )
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    document = download.json()
    assert document["leftovers_found"][0]["attribute"] == "url"
    assert document["leftovers_cleared"] is True
    assert document["events_cleared"] == 3
    assert_no_canary(download.content.decode())
    # A marketer (no Personal data) may read it too: it holds no value.
    marketer = Client()
    marketer.force_login(world.marketer)
    again = marketer.get(
        reverse("customers:receipt_json", kwargs={"token": token, "receipt_id": receipt.public_id})
    )
    assert again.status_code == 200 and again.json() == document
    # Another project's member gets a 404.
    outsider = Client()
    outsider.force_login(world.outsider)
    assert (
        outsider.get(
            reverse(
                "customers:receipt_json", kwargs={"token": token, "receipt_id": receipt.public_id}
            )
        ).status_code
        == 404
    )


def test_leftovers_reported_but_kept_when_the_setting_is_off(
    world: World, leftovers: Customer
) -> None:
    ErasureSettings.objects.create(project=world.project, remove_leftovers=False)
    receipt = _anonymize(world)
    assert [item["attribute"] for item in receipt.leftovers] == ["url", "note"]
    assert receipt.leftovers_cleared is False
    assert Customer.objects.get(pk=world.customer.pk).properties["note"] == NOTE


def test_bulk_job_writes_receipts_and_the_job_page_shows_them(
    world: World, leftovers: Customer
) -> None:
    other = factories.track_customer(
        world.project, {"registered": "bob.k@x.test"}, {"note": "bob.k@x.test asked"}
    )
    actor = principal_for_user(world.admin, world.project)
    job = anonymization_job_create(
        actor=actor, source="app", customers=[world.customer.pk, other.pk], start=False
    )
    anonymization_job_run_all(job_id=job.pk, size=1)
    receipts = ErasureReceipt.objects.filter(job=job)
    assert receipts.count() == 2
    assert Customer.objects.get(pk=other.pk).properties["note"] == "****** asked"
    client = Client()
    client.force_login(world.admin)
    page = client.get(
        reverse("customers:job", kwargs={"token": world.project.token, "public_id": job.public_id})
    ).content.decode()
    assert "2 · 2 with leftovers found" in page
    for canary in [*CANARIES, "bob.k@x.test"]:
        assert canary not in page
