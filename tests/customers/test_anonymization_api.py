"""The anonymization API: anonymize (sync), anonymize_bulk (job), the bulk status."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from access.models import AuditEvent
from customers.models import AnonymizationJob, AnonymizationJobItem, Customer, CustomerId, Event
from tests import factories
from tests.conftest import CANARY_EMAIL, World, assert_no_canary
from tests.customers.test_anonymization import assert_anonymized

pytestmark = pytest.mark.django_db


def url(world: World, path: str) -> str:
    return f"/data/v2/projects/{world.project.token}/customers/{path}"


def post(client: Any, key: factories.KeyCredentials, path: str, body: Any) -> Any:
    return client.post(
        path,
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        HTTP_AUTHORIZATION=key.basic,
    )


def test_anonymize_one_customer(client: Any, world: World) -> None:
    response = post(
        client,
        world.full_key,
        url(world, "anonymize"),
        {"customer_ids": {"registered": CANARY_EMAIL}},
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}
    assert_anonymized(world.customer, source="api")
    audit = AuditEvent.objects.get(action="customer.anonymize")
    assert audit.actor_api_key == world.full_key.key

    # Again: the e-mail no longer names anyone, as Exponea answers for an unknown customer.
    again = post(
        client,
        world.full_key,
        url(world, "anonymize"),
        {"customer_ids": {"registered": CANARY_EMAIL}},
    )
    assert again.status_code == 404
    assert again.json() == {"success": False, "errors": ["Customer not found."]}
    assert Event.objects.filter(event_type__name="anonymization").count() == 1


def test_anonymize_by_the_new_cookie_is_a_no_op(client: Any, world: World) -> None:
    post(
        client, world.full_key, url(world, "anonymize"), {"customer_ids": {"cookie": "ck-canary-1"}}
    )
    cookie = CustomerId.objects.get(customer=world.customer).value
    response = post(
        client, world.full_key, url(world, "anonymize"), {"customer_ids": {"cookie": cookie}}
    )
    assert response.status_code == 200
    assert Event.objects.filter(event_type__name="anonymization").count() == 1
    assert CustomerId.objects.get(customer=world.customer).value == cookie


def test_unknown_customer_is_404_in_exponea_shape(client: Any, world: World) -> None:
    response = post(
        client,
        world.full_key,
        url(world, "anonymize"),
        {"customer_ids": {"registered": "no@x.test"}},
    )
    assert response.status_code == 404
    assert response.json() == {"success": False, "errors": ["Customer not found."]}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"customer_ids": "x"},
        {"customer_ids": {}},
        {"customer_ids": {"email_hash": CANARY_EMAIL}},
        [],
        "{not json",
    ],
)
def test_malformed_anonymize_is_400_without_echo(client: Any, world: World, body: Any) -> None:
    response = post(client, world.full_key, url(world, "anonymize"), body)
    assert response.status_code == 400
    assert response.json()["success"] is False and response.json()["errors"]
    assert_no_canary(response.content.decode())
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None


def test_key_without_anonymize_permission_is_refused(client: Any, world: World) -> None:
    reader = factories.make_key(world.project, "read_customers", "view_personal_data", name="R")
    body = {"customer_ids": {"registered": CANARY_EMAIL}}
    assert post(client, reader, url(world, "anonymize"), body).status_code == 403
    bulk = {"customers": [{"customer_ids": {"registered": CANARY_EMAIL}}]}
    assert post(client, reader, url(world, "anonymize_bulk"), bulk).status_code == 403
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None
    assert AnonymizationJob.objects.count() == 0


def test_another_projects_key_gets_404(client: Any, world: World) -> None:
    other = factories.make_key(world.other_project, "anonymize_customers", name="O")
    body = {"customer_ids": {"registered": CANARY_EMAIL}}
    assert post(client, other, url(world, "anonymize"), body).status_code == 404
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None


def test_bulk_creates_a_job_and_reports_status_by_position(
    client: Any, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    second = factories.track_customer(world.project, {"registered": "b@x.test"}, {"email": "b"})
    body = {
        "customers": [
            {"customer_ids": {"registered": CANARY_EMAIL}},
            {"customer_ids": {"registered": "nobody@x.test"}},
            {"internal_id": str(second.pk)},
            {"customer_ids": {"cookie": "ck-canary-1"}},
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, world.masked_key, url(world, "anonymize_bulk"), body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["success"] is True and set(data) == {"success", "bulk_id"}
    job = AnonymizationJob.objects.get(public_id=data["bulk_id"])
    assert job.source == "bulk_api" and job.requested_by_api_key == world.masked_key.key
    # Eager without a broker: the job already ran.
    assert_anonymized(world.customer, source="bulk_api")
    second.refresh_from_db()
    assert second.anonymized_at is not None

    status = client.get(
        url(world, f"anonymize_bulk/{data['bulk_id']}"), HTTP_AUTHORIZATION=world.masked_key.basic
    )
    assert status.status_code == 200
    payload = status.json()
    assert payload["status"] == "done"
    assert (payload["total"], payload["done"], payload["not_found"]) == (2, 2, [1])
    assert payload["finished_at"] >= payload["created_at"]
    text = status.content.decode()
    assert "nobody@x.test" not in text and "b@x.test" not in text
    assert_no_canary(text)

    # A second bulk run over the same customers changes nothing and tracks nothing.
    events, audits = Event.objects.count(), AuditEvent.objects.count()
    again = {
        "customers": [{"internal_id": str(world.customer.pk)}, {"internal_id": str(second.pk)}]
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, world.masked_key, url(world, "anonymize_bulk"), again)
    assert response.status_code == 200
    job = AnonymizationJob.objects.get(public_id=response.json()["bulk_id"])
    assert (job.status, job.total, job.done) == ("done", 2, 2)
    assert Event.objects.count() == events
    assert AuditEvent.objects.count() == audits + 1  # the job's creation, nothing per customer


def test_bulk_status_is_project_scoped(client: Any, world: World) -> None:
    job = AnonymizationJob.objects.create(
        project=world.other_project, requested_by_label="x", source="bulk_api"
    )
    for bulk_id in (str(job.public_id), str(uuid.uuid4()), "not-a-uuid"):
        response = client.get(
            url(world, f"anonymize_bulk/{bulk_id}"), HTTP_AUTHORIZATION=world.full_key.basic
        )
        assert response.status_code == 404
        assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"customers": []}, "customers"),
        ({"customers": "all"}, "customers"),
        ({"customers": [{"internal_id": "1"}] * 1001}, "1000"),
        (
            {"customers": [{"internal_id": "1"}, {"customer_ids": {"email_hash": "x"}}]},
            "customers[1]",
        ),
        ({"customers": [{"internal_id": "1"}, {"cookie": CANARY_EMAIL}]}, "customers[1]"),
        (
            {"customers": [{"customer_ids": {"registered": "a"}, "internal_id": "1"}]},
            "customers[0]",
        ),
        ({}, "customers"),
    ],
)
def test_malformed_bulk_is_400_and_nothing_is_queued(
    client: Any, world: World, body: Any, message: str
) -> None:
    response = post(client, world.full_key, url(world, "anonymize_bulk"), body)
    assert response.status_code == 400, response.content
    errors = " ".join(response.json()["errors"])
    assert message in errors
    assert_no_canary(errors)
    assert AnonymizationJob.objects.count() == 0
    assert AnonymizationJobItem.objects.count() == 0


def test_bulk_of_exactly_the_limit_is_accepted(client: Any, world: World) -> None:
    body = {"customers": [{"internal_id": str(world.customer.pk)}] * 1000}
    response = post(client, world.full_key, url(world, "anonymize_bulk"), body)
    assert response.status_code == 200
    job = AnonymizationJob.objects.get()
    assert job.total == 1
    assert Customer.objects.get(pk=world.customer.pk)


@pytest.mark.django_db(transaction=True)
def test_exponea_python_sdk_anonymize_customer(world: World, live_server: Any) -> None:
    """Exponea's own client works by changing only the URL: success, then a 404 it reports."""
    sdk = pytest.importorskip("exponea_python_sdk")
    import logging

    logging.getLogger("exponea-python-sdk").setLevel(logging.CRITICAL)
    client = sdk.Exponea(
        str(world.project.token),
        username=world.full_key.key.key_id,
        password=world.full_key.secret,
        url=live_server.url,
    )
    assert client.customer.anonymize_customer({"registered": CANARY_EMAIL}) is True
    assert_anonymized(world.customer, source="api")
    from exponea_python_sdk.exceptions import APIException

    with pytest.raises(APIException):
        client.customer.anonymize_customer({"registered": CANARY_EMAIL})
