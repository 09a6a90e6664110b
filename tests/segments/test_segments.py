"""Saved segments (issue 22, item 3): saved from the list, listed, applied through the list
URL and the export API ({"type": "segment", "segmentation_id"}), audited, and refused to a
principal who may not see a PII attribute the segment uses, whoever saved it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from customers.filters import CustomerFilter
from segments.models import Segment
from segments.services import segment_save
from tests import factories
from tests.conftest import CANARY_EMAIL, World, assert_no_canary

pytestmark = pytest.mark.django_db

PREMIUM = "c=plan:equals:premium"
BY_EMAIL = {"conditions": [{"attribute": "email", "operator": "contains", "value": "canary"}]}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _save(world: World, user: Any, name: str, querystring: str) -> Any:
    url = reverse("segments:save", kwargs={"token": world.project.token})
    return _client(user).post(url, {"name": name, "filter": querystring})


def _export(world: World, key: Any, segment: Segment) -> Any:
    body = {
        "format": "native_json",
        "attributes": {"type": "some", "list": [{"type": "property", "property": "plan"}]},
        "filter": {"type": "segment", "segmentation_id": str(segment.public_id)},
    }
    return Client().post(
        f"/data/v2/projects/{world.project.token}/customers/export",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=key.basic,
    )


def _body(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_save_from_the_list_then_open_it(world: World) -> None:
    response = _save(world, world.marketer, "Premium", PREMIUM)
    assert response.status_code == 302
    assert response["Location"].endswith("?c=plan:equals:premium")
    segment = Segment.objects.get()
    assert segment.name == "Premium" and segment.created_by_label == "mark"
    assert CustomerFilter.from_api(segment.definition) == CustomerFilter.from_string(PREMIUM)
    audit = AuditEvent.objects.get(action="segment.create")
    assert audit.details["segment"] == str(segment.public_id)

    page = _client(world.marketer).get(
        reverse("segments:list", kwargs={"token": world.project.token})
    )
    html = page.content.decode()
    assert "Premium" in html and "plan equals premium" in html
    assert "?c=plan:equals:premium" in html


def test_duplicate_names_and_empty_filters_are_refused(world: World) -> None:
    assert _save(world, world.marketer, "Premium", PREMIUM).status_code == 302
    assert _save(world, world.marketer, "Premium", "c=plan:equals:free").status_code == 409
    assert _save(world, world.marketer, "Everyone", "").status_code == 400
    assert _save(world, world.marketer, "", PREMIUM).status_code == 400
    assert _save(world, world.marketer, "Odd", "c=plan:equals:x&sort=email").status_code == 400
    assert Segment.objects.count() == 1


def test_a_marketer_cannot_save_a_filter_on_pii(world: World) -> None:
    response = _save(world, world.marketer, "Canaries", "c=email:contains:canary")
    assert response.status_code == 403
    assert "email" in response.content.decode()
    assert not Segment.objects.exists()


def test_a_pii_segment_saved_by_an_admin_is_refused_to_the_marketer(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    segment = segment_save(
        actor=admin, name="Canaries", customer_filter=CustomerFilter.from_api(BY_EMAIL)
    )
    listing = _client(world.marketer).get(
        reverse("segments:list", kwargs={"token": world.project.token})
    )
    html = listing.content.decode()
    assert (
        "uses personal data: email" in html and "canary" not in html.split("Canaries", 1)[1][:400]
    )
    list_url = reverse("customers:list", kwargs={"token": world.project.token})
    applied = _client(world.marketer).get(
        list_url + "?" + CustomerFilter.from_api(segment.definition).to_querystring()
    )
    assert applied.status_code == 403
    assert_no_canary(applied.content.decode())

    refused = _export(world, world.masked_key, segment)
    assert refused.status_code == 403
    assert "email" in _body(refused)
    allowed = _export(world, world.full_key, segment)
    assert allowed.status_code == 200
    data = json.loads(_body(allowed))
    assert len(data["data"]) == 1


def test_export_by_segment_matches_the_same_filter(world: World) -> None:
    factories.track_customer(world.project, {"registered": "p2@x.test"}, {"plan": "premium"})
    factories.track_customer(world.project, {"registered": "f1@x.test"}, {"plan": "free"})
    marketer = factories.principal_of(world.marketer, world.project)
    segment = segment_save(
        actor=marketer, name="Premium", customer_filter=CustomerFilter.from_string(PREMIUM)
    )
    data = json.loads(_body(_export(world, world.masked_key, segment)))
    assert sorted(row[-1] for row in data["data"]) == ["premium", "premium"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ({"type": "segment", "segmentation_id": "not-a-uuid"}, 400),
        ({"type": "segment", "segmentation_id": "00000000-0000-0000-0000-000000000000"}, 404),
        ({"type": "segment", "segmentation_id": "x", "extra": 1}, 400),
    ],
)
def test_bad_segment_references(world: World, raw: dict[str, Any], status: int) -> None:
    body = {"format": "csv", "filter": raw}
    response = Client().post(
        f"/data/v2/projects/{world.project.token}/customers/export",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )
    assert response.status_code == status
    assert json.loads(_body(response))["success"] is False


def test_another_projects_segment_is_404(world: World) -> None:
    outsider = factories.principal_of(world.outsider, world.other_project)
    segment = segment_save(
        actor=outsider, name="Theirs", customer_filter=CustomerFilter.from_string(PREMIUM)
    )
    response = _export(world, world.full_key, segment)
    assert response.status_code == 404
    delete = reverse(
        "segments:delete", kwargs={"token": world.project.token, "segment_id": segment.public_id}
    )
    assert _client(world.admin).post(delete).status_code == 404
    assert Segment.objects.filter(pk=segment.pk).exists()


def test_only_the_author_or_a_data_manager_deletes(world: World) -> None:
    marketer = factories.principal_of(world.marketer, world.project)
    segment = segment_save(
        actor=marketer, name="Premium", customer_filter=CustomerFilter.from_string(PREMIUM)
    )
    delete = reverse(
        "segments:delete", kwargs={"token": world.project.token, "segment_id": segment.public_id}
    )
    other = factories.make_member(world.project, "otto", roles=("Marketer",))
    assert _client(other).post(delete).status_code == 403
    assert _client(world.marketer).post(delete).status_code == 302
    assert not Segment.objects.exists()
    assert AuditEvent.objects.filter(action="segment.delete").count() == 1
    assert CANARY_EMAIL not in json.dumps(
        list(AuditEvent.objects.values_list("details", flat=True))
    )
