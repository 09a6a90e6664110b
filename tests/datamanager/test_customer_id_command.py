"""``manage.py create_customer_id PROJECT NAME [--soft] [--not-pii]``: thin, the one service."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from access.models import AuditEvent
from datamanager.models import AttributeKind, CustomerAttribute
from tests.conftest import World


def _id(world: World, name: str) -> CustomerAttribute:
    return CustomerAttribute.objects.get(project=world.project, name=name, kind=AttributeKind.ID)


def test_creates_a_hard_pii_id_by_default_and_audits_it(world: World) -> None:
    out = StringIO()
    call_command("create_customer_id", str(world.project.token), "crm_id", stdout=out)
    attr = _id(world, "crm_id")
    assert (attr.hard, attr.pii) == (True, True)
    assert "Added hard ID 'crm_id' (personal data)" in out.getvalue()
    event = AuditEvent.objects.get(project=world.project, action="datamanager.id_create")
    assert event.actor_label == "cli" and event.details["attribute"] == "crm_id"


def test_soft_and_not_pii_by_project_name(world: World) -> None:
    call_command("create_customer_id", "Shop", "phone_id", "--soft", "--not-pii", stdout=StringIO())
    attr = _id(world, "phone_id")
    assert (attr.hard, attr.pii) == (False, False)


@pytest.mark.parametrize(
    ("name", "message"),
    [("cookie", "customer ID named 'cookie' already exists"), ("Bad Name", "is invalid")],
)
def test_a_taken_or_bad_name_is_a_command_error(world: World, name: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("create_customer_id", "Shop", name, stdout=StringIO())
    assert not AuditEvent.objects.filter(action="datamanager.id_create").exists()
