"""Bulk anonymization from the app: above 100 customers the confirmation asks to type the count.

The check is the server's: a missing or wrong number answers the confirmation again with a
clear error and creates no job. The threshold is lowered here so the tests stay small; the
browser test (tests/browser/test_tour.py) confirms more than 100 at the real threshold.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from customers import anonymization_views
from customers.models import AnonymizationJob, Customer
from tests import factories
from tests.conftest import World

pytestmark = pytest.mark.django_db

THRESHOLD = 3


@pytest.fixture
def low_threshold(monkeypatch: Any) -> None:
    monkeypatch.setattr(anonymization_views, "TYPED_COUNT_ABOVE", THRESHOLD)


def bulk_url(world: World) -> str:
    return reverse("customers:anonymize_bulk", kwargs={"token": world.project.token})


def add_free_customers(world: World, n: int) -> None:
    for i in range(n):
        factories.track_customer(world.project, {"registered": f"free{i}@x.test"}, {"plan": "free"})


FREE = {"all_matching": "1", "filter": "c=plan:equals:free"}


def test_the_threshold_is_one_hundred() -> None:
    assert anonymization_views.TYPED_COUNT_ABOVE == 100


def test_up_to_the_threshold_one_click_confirms(
    client: Any, world: World, low_threshold: None, django_capture_on_commit_callbacks: Any
) -> None:
    add_free_customers(world, THRESHOLD)
    client.force_login(world.admin)
    page = client.post(bulk_url(world), FREE).content.decode()
    assert f"Anonymize {THRESHOLD} customers?" in page
    assert 'name="typed_count"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(bulk_url(world), {**FREE, "confirm": "1"})
    assert response.status_code == 302
    assert AnonymizationJob.objects.get().total == THRESHOLD


def test_above_the_threshold_the_page_asks_for_the_count(
    client: Any, world: World, low_threshold: None
) -> None:
    add_free_customers(world, THRESHOLD + 1)
    client.force_login(world.admin)
    response = client.post(bulk_url(world), FREE)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="typed_count"' in page
    assert f"type the number of customers, <strong>{THRESHOLD + 1}</strong>" in page
    assert "data-typed-error" not in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (None, "Type the number of customers, 4, to confirm."),
        ("", "Type the number of customers, 4, to confirm."),
        ("3", "You typed 3, but 4 customers will be anonymized. Type that number to confirm."),
        ("40", "You typed 40, but 4 customers will be anonymized."),
    ],
)
def test_a_missing_or_wrong_count_shows_the_page_again_and_creates_nothing(
    client: Any, world: World, low_threshold: None, typed: str | None, message: str
) -> None:
    add_free_customers(world, THRESHOLD + 1)
    client.force_login(world.admin)
    body = {**FREE, "confirm": "1"}
    if typed is not None:
        body["typed_count"] = typed
    response = client.post(bulk_url(world), body)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was anonymized." in page and message in page
    assert "Anonymize 4 customers?" in page and 'name="typed_count"' in page
    assert not AnonymizationJob.objects.exists()
    assert not Customer.objects.filter(anonymized_at__isnull=False).exists()


def test_the_typed_count_confirms(
    client: Any, world: World, low_threshold: None, django_capture_on_commit_callbacks: Any
) -> None:
    add_free_customers(world, THRESHOLD + 1)
    client.force_login(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(bulk_url(world), {**FREE, "confirm": "1", "typed_count": " 4 "})
    job = AnonymizationJob.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/jobs/{job.public_id}/")
    assert (job.total, job.status) == (THRESHOLD + 1, "done")
    assert Customer.objects.filter(anonymized_at__isnull=False).count() == THRESHOLD + 1
