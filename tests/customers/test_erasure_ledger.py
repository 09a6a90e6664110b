"""The erasure ledger: anonymizations survive a backup restore (``replay_erasures``).

The in-process tests "restore" by writing the customer's pre-anonymization rows back, as a
restored backup holds them (SQLite and PostgreSQL). The PostgreSQL test does it for real:
``pg_dump`` before the anonymization, restore into a new database, replay there as a
separate process, then search a ``pg_dump`` of the restored database for every value.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from access.models import AuditEvent
from customers.models import Customer, CustomerId, Event
from customers.selectors import id_names
from customers.services import customer_anonymize
from customers.services.erasure_ledger import (
    erasures_pending,
    hard_id_hash,
    ledger_entries,
)
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def ledger(settings: Any, tmp_path: Path) -> Path:
    settings.ERASURE_LEDGER_DIR = str(tmp_path / "ledger")
    return tmp_path / "ledger"


def _ledger_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("*.jsonl")))


class Snapshot:
    """A customer's rows as a backup taken now holds them."""

    def __init__(self, customer: Customer) -> None:
        self.customer = dict(Customer.objects.filter(pk=customer.pk).values()[0])
        self.ids = list(CustomerId.objects.filter(customer=customer).values())
        self.events = list(Event.objects.filter(customer=customer).values())

    def restore(self) -> None:
        pk: Any = self.customer["id"]
        CustomerId.objects.filter(customer_id=pk).delete()
        Event.objects.filter(customer_id=pk).delete()
        Customer.objects.filter(pk=pk).update(
            **{k: v for k, v in self.customer.items() if k != "id"}
        )
        CustomerId.objects.bulk_create([CustomerId(**row) for row in self.ids])
        Event.objects.bulk_create([Event(**row) for row in self.events])


def _holds_pii(customer: Customer) -> bool:
    rows = repr(list(Customer.objects.filter(pk=customer.pk).values()))
    rows += repr(list(CustomerId.objects.filter(customer=customer).values()))
    rows += repr(list(Event.objects.filter(customer=customer).values()))
    return any(c in rows for c in CANARIES)


def replay(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("replay_erasures", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.mark.django_db
def test_anonymization_appends_a_line_with_keyed_hashes_and_no_value(
    world: World, ledger: Path
) -> None:
    assert id_names(world.project)["registered"] is True  # the hard ID of the canary
    customer_anonymize(
        actor=factories.system(world.project), customers=[world.customer], source="app"
    )
    raw = _ledger_bytes(ledger)
    assert raw.endswith(b"\n")
    for canary in [*CANARIES, "ck-canary-1"]:
        assert canary.encode() not in raw
    (line,) = raw.splitlines()
    entry = json.loads(line)
    assert entry["project"] == str(world.project.token)
    assert entry["customer"] == world.customer.pk
    assert entry["source"] == "app"
    # Exactly the hard ID, keyed: the soft cookie is not listed.
    assert entry["hard_ids"] == [hard_id_hash(str(world.project.token), "registered", CANARY_EMAIL)]
    # Per-project key: the same e-mail hashes differently in another project.
    assert entry["hard_ids"][0] != hard_id_hash(
        str(world.other_project.token), "registered", CANARY_EMAIL
    )
    assert (ledger.stat().st_mode & 0o777) == 0o700


@pytest.mark.django_db
def test_replay_after_a_restore_anonymizes_the_customer_again(world: World) -> None:
    backup = Snapshot(world.customer)
    customer_anonymize(
        actor=factories.system(world.project), customers=[world.customer], source="app"
    )
    backup.restore()
    assert _holds_pii(world.customer)  # the restore brought the person back

    dry = replay("--dry-run")
    assert "1 customer(s) would be anonymized" in dry
    assert _holds_pii(world.customer)  # a dry run changes nothing

    output = replay("--project", str(world.project.token))
    assert "1 customer(s) anonymized again" in output
    assert not _holds_pii(world.customer)
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is not None
    for canary in CANARIES:
        assert canary not in output
    replayed = AuditEvent.objects.filter(
        action="customer.anonymize", target_id=str(world.customer.pk), actor_label="replay_erasures"
    )
    assert replayed.count() == 1
    assert AuditEvent.objects.filter(action="erasure.replay", project=world.project).exists()
    # Run again: nothing left to do, nothing tracked twice.
    assert "0 customer(s) anonymized again" in replay()
    assert (
        Event.objects.filter(customer=world.customer, event_type__name="anonymization").count() == 1
    )


@pytest.mark.django_db
def test_replay_matches_a_restored_customer_by_hard_id_under_another_internal_id(
    world: World,
) -> None:
    backup = Snapshot(world.customer)
    customer_anonymize(
        actor=factories.system(world.project), customers=[world.customer], source="app"
    )
    # The restored database holds the person under another internal id (e.g. a merge that
    # went differently): only the keyed hash of the e-mail can find them.
    backup.restore()
    twin = Customer.objects.create(project=world.project, properties={"email": CANARY_EMAIL})
    Customer.objects.filter(pk=twin.pk).update(created_at=backup.customer["created_at"])
    CustomerId.objects.filter(customer=world.customer, name="registered").update(customer=twin)
    pending = erasures_pending(project=world.project)
    assert set(pending) == {world.customer.pk, twin.pk}


@pytest.mark.django_db
def test_a_person_who_registers_again_after_the_erasure_is_left_alone(world: World) -> None:
    customer_anonymize(
        actor=factories.system(world.project), customers=[world.customer], source="app"
    )
    # Registering again with the erased e-mail is refused while it is suppressed (issue 17,
    # on by default); an admin lifts the suppression when the person really comes back.
    from customers.models import SuppressedIdentity

    SuppressedIdentity.objects.filter(project=world.project).delete()
    again = factories.track_customer(world.project, {"registered": CANARY_EMAIL}, {"plan": "free"})
    assert erasures_pending(project=world.project) == []
    replay()
    again.refresh_from_db()
    assert again.anonymized_at is None
    assert CustomerId.objects.filter(customer=again, value=CANARY_EMAIL).exists()


@pytest.mark.django_db
def test_a_torn_last_line_loses_only_itself(world: World, ledger: Path) -> None:
    ledger.mkdir(mode=0o700)
    (ledger / "erasures-2026-01-01.jsonl").write_bytes(b'{"v":1,"project":"x","cust')
    other = factories.track_customer(world.project, {"registered": "torn@leak.test"})
    customer_anonymize(actor=factories.system(world.project), customers=[other], source="app")
    assert [e.customer for e in ledger_entries()] == [other.pk]


@pytest.mark.django_db
def test_without_a_ledger_the_command_says_where_it_looked(settings: Any, tmp_path: Path) -> None:
    settings.ERASURE_LEDGER_DIR = str(tmp_path / "missing")
    with pytest.raises(CommandError, match="No erasure ledger"):
        replay()


@pytest.mark.django_db
def test_an_unwritable_ledger_refuses_the_anonymization(
    world: World, settings: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.ERASURE_LEDGER_DIR = str(blocker / "ledger")
    with pytest.raises(OSError):
        customer_anonymize(
            actor=factories.system(world.project), customers=[world.customer], source="app"
        )
    world.customer.refresh_from_db()
    assert world.customer.anonymized_at is None


# The real thing on PostgreSQL -----------------------------------------------------------------


def _pg_env() -> dict[str, str]:
    s = connection.settings_dict
    env = {**os.environ, "PGHOST": s["HOST"] or "127.0.0.1", "PGPORT": str(s["PORT"] or 5432)}
    if s["USER"]:
        env["PGUSER"] = s["USER"]
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = s["PASSWORD"]
    return env


def _url(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def test_pg_dump_restore_then_replay_leaves_no_value(
    transactional_db: Any, world: World, ledger: Path, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump / restore needs PostgreSQL")
    if not shutil.which("pg_dump") or not shutil.which("psql"):
        pytest.skip("pg_dump and psql are not installed")
    env = _pg_env()
    source = connection.settings_dict["NAME"]
    backup = tmp_path / "backup.sql"
    subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", "-f", str(backup), source],
        env=env,
        check=True,
    )
    assert CANARY_EMAIL.encode() in backup.read_bytes()

    customer_anonymize(
        actor=factories.system(world.project), customers=[world.customer], source="app"
    )

    restored = f"{source}_restored_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", restored], env=env, check=True)
    try:
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", restored, "-f", str(backup)],
            env=env,
            check=True,
            capture_output=True,
        )
        replay_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "exponea_pii.test_settings",
            "DATABASE_URL": _url(restored),
            "ERASURE_LEDGER_DIR": str(ledger),
            "PYTHONPATH": str(ROOT),
        }
        replay_env.pop("REDIS_URL", None)
        result = subprocess.run(
            [sys.executable, "manage.py", "replay_erasures"],
            cwd=ROOT,
            env=replay_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "1 customer(s) anonymized again" in result.stdout
        for canary in CANARIES:
            assert canary not in result.stdout + result.stderr
        after = subprocess.run(
            ["pg_dump", "--data-only", restored], env=env, check=True, capture_output=True
        ).stdout
    finally:
        subprocess.run(["dropdb", "--if-exists", restored], env=env, check=False)
    found = [c for c in [*CANARIES, "ck-canary-1"] if c.encode() in after]
    assert not found, f"the restored database still holds {found}"
