"""The read-replica router: opted-in reads go to ``replica`` if configured, nothing else does."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connections
from django.db import router as django_router

from access.models import Membership
from customers.models import Customer, Event
from datamanager.models import CustomerAttribute, EventAttribute
from exponea_pii import db_router
from exponea_pii.db_router import ReplicaRouter, read_alias, replica_reads


@pytest.fixture
def with_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if DATABASE_REPLICA_URL were set (the router only asks whether the alias exists)."""
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)


def test_router_is_installed_and_no_replica_alias_by_default() -> None:
    assert "exponea_pii.db_router.ReplicaRouter" in settings.DATABASE_ROUTERS
    assert "replica" not in settings.DATABASES
    assert db_router.replica_configured() is False


def test_without_replica_every_read_stays_on_default() -> None:
    router = ReplicaRouter()
    assert Customer.objects.all().db == "default"
    with replica_reads():
        assert router.db_for_read(Customer) is None
        assert Customer.objects.all().db == "default"
        assert read_alias() == "default"


def test_with_replica_only_opted_in_reads_go_to_it(with_replica: None) -> None:
    assert Customer.objects.all().db == "default"
    assert read_alias() == "default"
    with replica_reads():
        assert Customer.objects.filter(project_id=1).db == "replica"
        assert Event.objects.all().db == "replica"
        assert read_alias() == "replica"
    # Leaving the block restores the primary.
    assert Customer.objects.all().db == "default"


def test_catalog_permissions_and_sessions_always_read_the_primary(with_replica: None) -> None:
    # What decides masking must never lag: a new PII flag applies at once.
    with replica_reads():
        assert Customer.objects.all().db == "replica"
        assert CustomerAttribute.objects.all().db == "default"
        assert EventAttribute.objects.all().db == "default"
        assert Membership.objects.all().db == "default"
        assert Session.objects.all().db == "default"


def test_writes_and_migrations_never_go_to_the_replica(with_replica: None) -> None:
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_write(Customer) is None
        # What Model.save() and QuerySet.update() ask the routers for.
        assert django_router.db_for_write(Customer) == "default"
    assert router.allow_migrate("replica", "customers") is False
    assert router.allow_migrate("default", "customers") is None


def test_reads_inside_a_transaction_stay_on_default(
    with_replica: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A service reading what it just wrote must not read a lagging replica.
    monkeypatch.setattr(connections["default"], "in_atomic_block", True)
    with replica_reads():
        assert Customer.objects.all().db == "default"
        assert read_alias() == "default"


def test_decorator_scopes_each_call(with_replica: None) -> None:
    seen: list[str] = []

    @replica_reads()
    def list_page() -> str:
        seen.append(Customer.objects.all().db)
        return "page"

    assert list_page() == "page"
    assert list_page() == "page"
    assert seen == ["replica", "replica"]
    assert Customer.objects.all().db == "default"


def test_nested_blocks_restore_the_outer_state(with_replica: None) -> None:
    with replica_reads():
        with replica_reads():
            assert read_alias() == "replica"
        assert read_alias() == "replica"
    assert read_alias() == "default"


def test_objects_from_primary_and_replica_may_relate() -> None:
    router = ReplicaRouter()

    class _State:
        def __init__(self, db: str) -> None:
            self.db = db

    class _Obj:
        def __init__(self, db: str) -> None:
            self._state: Any = _State(db)

    assert router.allow_relation(_Obj("default"), _Obj("replica")) is True
    assert router.allow_relation(_Obj("default"), _Obj("other")) is None
