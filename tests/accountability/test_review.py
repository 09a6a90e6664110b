"""The access review page, its CSV and actions, the privacy overview and the nav counter."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from access.models import ApiKey, AuditEvent
from access.permissions import Perm
from access.selectors import principal_for_user
from access.services import role_create
from accountability.models import AccessReview, TrailVerification

from .. import factories
from ..conftest import CANARIES, World

pytestmark = pytest.mark.django_db

REASON = "The customer called support about a wrong delivery address, ticket 4711."


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(world: World, name: str) -> str:
    return reverse(f"accountability:{name}", kwargs={"token": world.project.token})


def test_review_lists_holders_with_grant_and_last_access(world: World) -> None:
    pd_member = factories.make_member(world.project, "pia", roles=("Viewer",), personal_data=True)
    admin = client_for(world.admin)
    admin.get(
        reverse("customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk})
    )
    body = admin.get(url(world, "review")).content.decode()
    assert "alice" in body and "role Admin" in body
    assert "pia" in body and "direct grant" in body
    assert "Full" in body and "key permission" in body  # the full key
    assert f'data-holder="member-{world.marketer.pk}"' not in body  # holds neither
    assert "Never." in body  # no review recorded yet
    assert [c for c in CANARIES if c in body] == []

    rows = list(csv.reader(io.StringIO(admin.get(url(world, "review_csv")).content.decode())))
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["alice"][2] == "role Admin" and by_name["alice"][4]  # last access known
    assert by_name["pia"][4] == ""  # never saw any
    assert pd_member.username in by_name


def test_remove_access_takes_grant_and_roles_and_revokes_keys(world: World) -> None:
    actor_client = client_for(world.admin)
    role_create(
        actor=factories.system(world.project),
        name="Analyst PD",
        permissions=[Perm.VIEW_CUSTOMERS, Perm.VIEW_PERSONAL_DATA],
    )
    pia = factories.make_member(
        world.project, "pia", roles=("Analyst PD", "Viewer"), personal_data=True
    )
    response = actor_client.post(url(world, "review_remove"), {"kind": "member", "pk": pia.pk})
    assert response.status_code == 302
    principal = principal_for_user(pia, world.project)
    assert not principal.can_see_personal_data
    assert principal.has(Perm.VIEW_CUSTOMERS)  # the Viewer role stays
    response = actor_client.post(
        url(world, "review_remove"), {"kind": "key", "pk": world.full_key.key.pk}
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=world.full_key.key.pk).revoked_at is not None
    assert (
        AuditEvent.objects.filter(action="api_key.revoke").exists()
        or AuditEvent.objects.filter(action__contains="revoke").exists()
    )
    # Bad input: a clear 400, nothing changed; another project's member: 404.
    assert (
        actor_client.post(url(world, "review_remove"), {"kind": "robot", "pk": "1"}).status_code
        == 400
    )
    assert (
        actor_client.post(
            url(world, "review_remove"), {"kind": "member", "pk": world.outsider.pk}
        ).status_code
        == 404
    )
    # Only manage_access.
    assert (
        client_for(world.marketer)
        .post(url(world, "review_remove"), {"kind": "member", "pk": world.admin.pk})
        .status_code
        == 403
    )


def test_record_review_and_trail_verification_show(world: World) -> None:
    admin = client_for(world.admin)
    assert admin.post(url(world, "review_record"), {"note": "Quarterly review"}).status_code == 302
    review = AccessReview.objects.get()
    assert review.reviewer_label == "alice" and review.holders >= 1
    assert AuditEvent.objects.filter(action="access_review.record").exists()
    call_command("verify_audit_trail", stdout=io.StringIO())
    assert TrailVerification.objects.get().ok
    body = admin.get(url(world, "review")).content.decode()
    assert "Quarterly review" in body and "held" in body
    overview = admin.get(url(world, "overview")).content.decode()
    assert "<svg" in overview and "Temporary reveals per day" in overview and "held" in overview


def test_overview_counts_flags_and_reveals(world: World) -> None:
    role_create(
        actor=factories.system(world.project),
        name="Support",
        permissions=[Perm.VIEW_CUSTOMERS, Perm.REQUEST_PERSONAL_DATA],
    )
    sue = factories.make_member(world.project, "sue", roles=("Support",))
    client_for(sue).post(
        reverse(
            "accountability:reveal_request",
            kwargs={"token": world.project.token, "pk": world.customer.pk},
        ),
        {"reason": REASON, "minutes": "15"},
    )
    admin = client_for(world.admin)
    body = admin.get(url(world, "overview")).content.decode()
    assert "<rect" in body  # today's reveal is a bar
    # The navigation counter: one reveal in the last 24 hours.
    assert "data-nav-count>1<" in body
    reveals = admin.get(url(world, "reveals")).content.decode()
    assert REASON in reveals and "in force" in reveals


def test_pages_need_their_permission(world: World) -> None:
    marketer = client_for(world.marketer)
    for name in ("review", "review_csv", "overview", "reveals"):
        assert marketer.get(url(world, name)).status_code == 403, name
    outsider = client_for(world.outsider)
    assert outsider.get(url(world, "review")).status_code == 404
