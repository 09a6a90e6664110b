"""The tamper-evident trail: an edited, removed or inserted row in either log is named."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from access.models import AuditEvent
from access.services import audit_record
from accountability.models import Channel, PersonalDataAccess, TrailLog, TrailSeal
from accountability.services import access_record
from accountability.trail import trail_seal_pending, trail_verify

from .. import factories
from ..conftest import World

NOW = dt.timedelta(0)


def fill_logs(world: World, n: int = 3) -> None:
    admin = factories.principal_of(world.admin, world.project)
    for i in range(n):
        audit_record(actor=admin, action="test.event", target_type="thing", target_id=i)
        access_record(
            actor=admin,
            channel=Channel.PAGE,
            view="customers.profile",
            attribute_names=["email"],
            customer_ids=[world.customer.pk],
        )


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("verify_audit_trail", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def model_of(log: str) -> Any:
    return AuditEvent if log == TrailLog.AUDIT else PersonalDataAccess


def test_an_untouched_trail_holds(world: World) -> None:
    fill_logs(world)
    for log in TrailLog:
        assert trail_seal_pending(log, settle=NOW) > 0
        assert trail_seal_pending(log, settle=NOW) == 0  # nothing left to seal
        report = trail_verify(log)
        assert report.ok, report.problem
        assert report.unsealed_entries == 0
        assert report.sealed_entries == model_of(log).objects.count()
    assert "OK" in run_command("--no-seal")


def test_recent_entries_wait_to_be_sealed(world: World) -> None:
    fill_logs(world)
    assert trail_seal_pending(TrailLog.ACCESS) == 0  # younger than SETTLE
    assert trail_verify(TrailLog.ACCESS).unsealed_entries == 3


@pytest.mark.parametrize("log", list(TrailLog))
def test_an_edited_row_is_named(world: World, log: str) -> None:
    fill_logs(world)
    trail_seal_pending(log, settle=NOW)
    model = model_of(log)
    victim = model.objects.order_by("id")[1]
    if log == TrailLog.AUDIT:
        model.objects.filter(pk=victim.pk).update(details={"covered": "up"})
    else:
        model.objects.filter(pk=victim.pk).update(attribute_names=["city"])
    report = trail_verify(log)
    assert report.problem.endswith(f"entry {victim.pk} was altered.")
    with pytest.raises(CommandError, match=f"entry {victim.pk} was altered"):
        run_command("--no-seal")


@pytest.mark.parametrize("log", list(TrailLog))
def test_a_deleted_row_is_named(world: World, log: str) -> None:
    fill_logs(world)
    trail_seal_pending(log, settle=NOW)
    model = model_of(log)
    victim = model.objects.order_by("id")[1]
    model.objects.filter(pk=victim.pk).delete()  # a queryset delete skips the model guard
    assert trail_verify(log).problem.endswith(f"entry {victim.pk} was removed.")
    with pytest.raises(CommandError, match=f"entry {victim.pk} was removed"):
        run_command()


@pytest.mark.parametrize("log", list(TrailLog))
def test_an_inserted_row_is_named(world: World, log: str) -> None:
    fill_logs(world)
    model = model_of(log)
    gap = model.objects.order_by("id")[1]
    gap_pk = gap.pk
    model.objects.filter(pk=gap_pk).delete()  # a gap before sealing: legitimately absent
    trail_seal_pending(log, settle=NOW)
    assert trail_verify(log).ok
    forged = model.objects.order_by("id").first()
    forged.pk = gap_pk
    forged.save(force_insert=True)
    assert trail_verify(log).problem.endswith(f"entry {gap_pk} was inserted after it was sealed.")


def test_an_altered_seal_is_found(world: World) -> None:
    fill_logs(world)
    trail_seal_pending(TrailLog.AUDIT, settle=NOW)
    fill_logs(world)
    trail_seal_pending(TrailLog.AUDIT, settle=NOW)
    first = TrailSeal.objects.filter(log=TrailLog.AUDIT).order_by("last_id").first()
    assert first is not None
    TrailSeal.objects.filter(pk=first.pk).delete()
    assert "seal" in trail_verify(TrailLog.AUDIT).problem


def test_entries_are_sealed_in_batches(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("accountability.trail.SEAL_BATCH", 2)
    fill_logs(world, 5)
    assert trail_seal_pending(TrailLog.ACCESS, settle=NOW) == 5
    assert TrailSeal.objects.filter(log=TrailLog.ACCESS).count() == 3
    assert trail_verify(TrailLog.ACCESS).ok
