"""The setup shortcut ``attribute_declare`` is a catalog write like any other: audited."""

from __future__ import annotations

import pytest

from access.models import AuditEvent
from access.selectors import principal_for_system
from datamanager.models import AttributeKind, CustomerAttribute
from datamanager.services import attribute_declare

pytestmark = pytest.mark.django_db


def test_a_declared_id_is_audited_once_with_its_name_and_kind(world) -> None:
    project = world.project
    actor = principal_for_system(project, label="setup script")
    attribute_declare(actor=actor, name="shop_no", kind=AttributeKind.ID)
    attribute_declare(actor=actor, name="shop_no", kind=AttributeKind.ID)  # exists: no write

    attr = CustomerAttribute.objects.get(project=project, name="shop_no")
    assert attr.kind == AttributeKind.ID
    events = AuditEvent.objects.filter(project=project, action="datamanager.attribute_declare")
    assert [(e.target_id, e.details, e.actor_label) for e in events] == [
        (str(attr.pk), {"attribute": "shop_no", "kind": "id"}, "setup script")
    ]
