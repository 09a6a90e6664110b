"""Anonymization pages: the profile's confirmation and button, bulk from the filter, jobs."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from access.permissions import Perm
from access.services import member_set_direct_grant
from customers.models import AnonymizationJob, Customer, Event
from tests import factories
from tests.conftest import CANARIES, World, assert_no_canary
from tests.customers.test_anonymization import assert_anonymized

pytestmark = pytest.mark.django_db


def login(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def anonymize_url(world: World, customer: Customer) -> str:
    return reverse("customers:anonymize", kwargs={"token": world.project.token, "pk": customer.pk})


def bulk_url(world: World) -> str:
    return reverse("customers:anonymize_bulk", kwargs={"token": world.project.token})


def test_confirmation_names_what_goes_and_shows_no_value(client: Any, world: World) -> None:
    response = login(client, world.admin).get(anonymize_url(world, world.customer))
    assert response.status_code == 200
    text = response.content.decode()
    for name in ("email", "phone", "first_name", "registered", "cookie", "ip", "shipping_address"):
        assert f"<code>{name}</code>" in text
    assert "cannot be undone" in text
    assert "page_visit</code> event will lose <code>ip</code>" in text
    assert "All 2 IDs" in text
    assert "<code>city</code>" not in text  # not personal data: kept, so not listed
    assert_no_canary(text)
    assert response["Cache-Control"] == "private, no-store"

    partial = client.get(anonymize_url(world, world.customer) + "?partial=1").content.decode()
    assert "<html" not in partial and "Anonymize permanently" in partial


def test_profile_button_anonymizes_and_the_profile_shows_it(client: Any, world: World) -> None:
    login(client, world.admin)
    detail = reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )
    profile = client.get(detail).content.decode()
    assert anonymize_url(world, world.customer) in profile and "data-anonymize-dialog" in profile

    response = client.post(anonymize_url(world, world.customer))
    assert response.status_code == 302 and response["Location"] == detail
    assert_anonymized(world.customer, source="app")

    after = client.get(detail).content.decode()
    assert "anonymized" in after.lower()
    assert anonymize_url(world, world.customer) not in after  # no button on an anonymized profile
    assert not [c for c in CANARIES if c in after]

    # A second POST (double submit) changes nothing.
    client.post(anonymize_url(world, world.customer))
    assert (
        Event.objects.filter(customer=world.customer, event_type__name="anonymization").count() == 1
    )


def test_restricted_user_gets_no_button_and_403(client: Any, world: World) -> None:
    login(client, world.marketer)
    detail = reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )
    assert anonymize_url(world, world.customer) not in client.get(detail).content.decode()
    assert client.get(anonymize_url(world, world.customer)).status_code == 403
    assert client.post(anonymize_url(world, world.customer)).status_code == 403
    body = {"customer": [world.customer.pk], "confirm": "1"}
    assert client.post(bulk_url(world), body).status_code == 403
    jobs = reverse("customers:jobs", kwargs={"token": world.project.token})
    assert client.get(jobs).status_code == 403
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None
    assert AnonymizationJob.objects.count() == 0


def test_outsider_gets_404(client: Any, world: World) -> None:
    login(client, world.outsider)
    assert client.get(anonymize_url(world, world.customer)).status_code == 404
    assert client.post(anonymize_url(world, world.customer)).status_code == 404


def test_anonymizer_without_personal_data_sees_names_not_values(client: Any, world: World) -> None:
    user = factories.make_member(world.project, "vera", roles=("Viewer",))
    member_set_direct_grant(
        actor=factories.system(world.project),
        user=user,
        perm=Perm.ANONYMIZE_CUSTOMERS,
        granted=True,
    )
    text = login(client, user).get(anonymize_url(world, world.customer)).content.decode()
    assert "<code>email</code>" in text
    assert_no_canary(text)
    assert client.post(anonymize_url(world, world.customer)).status_code == 302
    assert_anonymized(world.customer, source="app")


def test_bulk_selected_confirms_the_count_then_runs_a_job(
    client: Any, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    second = factories.track_customer(world.project, {"registered": "s@x.test"}, {"email": "s"})
    foreign = factories.track_customer(world.other_project, {"registered": "f@x.test"})
    login(client, world.admin)
    picked = [world.customer.pk, second.pk, foreign.pk]
    confirm = client.post(bulk_url(world), {"customer": picked, "filter": "c=plan:exists"})
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "Anonymize 2 customers?" in text and "cannot be undone" in text
    assert AnonymizationJob.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            bulk_url(world), {"customer": picked, "filter": "c=plan:exists", "confirm": "1"}
        )
    job = AnonymizationJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "customers:job", kwargs={"token": world.project.token, "public_id": job.public_id}
    )
    assert (job.source, job.total, job.status, job.requested_by_user) == (
        "app",
        2,
        "done",
        world.admin,
    )
    assert_anonymized(world.customer, source="app")
    foreign.refresh_from_db()
    assert foreign.anonymized_at is None


def test_bulk_all_matching_uses_the_filter(
    client: Any, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    free = factories.track_customer(world.project, {"registered": "free@x.test"}, {"plan": "free"})
    login(client, world.admin)
    body = {"all_matching": "1", "filter": "c=plan:equals:premium"}
    text = client.post(bulk_url(world), body).content.decode()
    assert "Anonymize 1 customer?" in text
    # The confirmation restates the filter the admin wrote, value included.
    assert "plan equals premium" in text
    with django_capture_on_commit_callbacks(execute=True):
        client.post(bulk_url(world), {**body, "confirm": "1"})
    assert_anonymized(world.customer, source="app")
    free.refresh_from_db()
    assert free.anonymized_at is None


def test_bulk_filter_on_pii_is_refused_without_personal_data(client: Any, world: World) -> None:
    user = factories.make_member(world.project, "vera", roles=("Viewer",))
    member_set_direct_grant(
        actor=factories.system(world.project),
        user=user,
        perm=Perm.ANONYMIZE_CUSTOMERS,
        granted=True,
    )
    body = {"all_matching": "1", "filter": "c=email:equals:canary.x91@leak.test", "confirm": "1"}
    response = login(client, user).post(bulk_url(world), body)
    assert response.status_code == 403
    assert "email" in response.content.decode()
    assert_no_canary(response.content.decode())
    assert AnonymizationJob.objects.count() == 0


def test_bulk_with_nothing_selected_goes_back(client: Any, world: World) -> None:
    response = login(client, world.admin).post(bulk_url(world), {"filter": "c=plan:exists"})
    assert response.status_code == 302 and "c=plan" in response["Location"]
    assert AnonymizationJob.objects.count() == 0


def test_jobs_pages_and_status_json(client: Any, world: World) -> None:
    job = AnonymizationJob.objects.create(
        project=world.project, requested_by_label="alice", source="bulk_api", total=10, done=4,
        status="running", not_found=[3, 8],
    )  # fmt: skip
    foreign = AnonymizationJob.objects.create(
        project=world.other_project, requested_by_label="olga", source="app"
    )
    login(client, world.admin)
    token = world.project.token
    listing = client.get(reverse("customers:jobs", kwargs={"token": token})).content.decode()
    status_url = reverse(
        "customers:job_status", kwargs={"token": token, "public_id": job.public_id}
    )
    assert status_url in listing and 'value="40"' in listing and "Running" in listing
    assert str(foreign.public_id) not in listing

    detail = client.get(
        reverse("customers:job", kwargs={"token": token, "public_id": job.public_id})
    )
    assert detail.status_code == 200
    assert "position" in detail.content.decode() and "3, 8" in detail.content.decode()

    status = client.get(status_url)
    assert status.json() == {
        "id": str(job.public_id),
        "status": "running",
        "status_label": "Running",
        "stalled": False,
        "heartbeat_at": None,
        "heartbeat_at_label": "—",
        "total": 10,
        "done": 4,
        "percent": 40,
        "not_found": 2,
        "started_at": None,
        "finished_at": None,
        "started_at_label": "—",
        "finished_at_label": "—",
        "error": "",
    }
    assert status["Cache-Control"] == "private, no-store"
    other = reverse("customers:job", kwargs={"token": token, "public_id": foreign.public_id})
    assert client.get(other).status_code == 404


def test_jobs_page_is_the_only_active_nav_link(client: Any, world: World) -> None:
    login(client, world.admin)
    html = client.get(
        reverse("customers:jobs", kwargs={"token": world.project.token})
    ).content.decode()
    assert html.count('aria-current="page"') == 1
    assert 'class="active" aria-current="page">Anonymization jobs<' in html
