"""Invariants the database guards, and the audit log's append-only rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from access.models import ApiKey, AuditEvent
from customers.models import AnonymizationJob
from datamanager.models import CustomerAttribute
from tests import factories

pytestmark = pytest.mark.django_db


def test_api_secret_is_stored_only_as_a_hash() -> None:
    project = factories.make_project()
    creds = factories.make_key(project, "track")
    key = ApiKey.objects.get(pk=creds.key.pk)
    assert creds.secret not in key.secret_hash
    assert len(key.secret_hash) == 64
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.filter(pk=key.pk).update(secret_hash=creds.secret)


def test_audit_events_are_append_only() -> None:
    project = factories.make_project()
    event = AuditEvent.objects.filter(project=project).first()
    assert event is not None
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


@pytest.mark.parametrize(
    "make",
    [
        lambda p: CustomerAttribute.objects.create(project=p, name="x", kind="weird"),
        lambda p: CustomerAttribute.objects.create(project=p, name="x", kind="property", hard=True),
        lambda p: CustomerAttribute.objects.create(project=p, name="", kind="property"),
        lambda p: CustomerAttribute.objects.create(project=p, name="registered", kind="property"),
        lambda p: AnonymizationJob.objects.create(project=p, source="api", total=1, done=2),
    ],
)
def test_database_constraints(make: Any) -> None:
    project = factories.make_project()
    with pytest.raises(IntegrityError), transaction.atomic():
        make(project)


def test_rotating_a_key_replaces_its_secret_and_is_audited() -> None:
    from access.selectors import api_key_authenticate
    from access.services import api_key_rotate

    project = factories.make_project()
    creds = factories.make_key(project, "track")
    # Without a grace period (tests/access/test_key_rotation.py covers the 24-hour one).
    new_secret = api_key_rotate(
        actor=factories.system(project), api_key=creds.key, grace=dt.timedelta(0)
    )
    assert api_key_authenticate(creds.key.key_id, creds.secret) is None
    assert api_key_authenticate(creds.key.key_id, new_secret) == creds.key
    assert (
        AuditEvent.objects.filter(action="api_key.rotate", target_id=str(creds.key.pk)).count() == 1
    )
