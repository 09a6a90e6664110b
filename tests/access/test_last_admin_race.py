"""The last-admin guard under concurrency (PostgreSQL, two connections).

Two admins demote (or remove) each other at the same moment. Each transaction is held
just before its guard check until the other has reached its own (or two seconds pass), so
without a lock both count two admins, both pass and the project is left with none.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from access.errors import Conflict
from access.models import Role
from access.selectors import principal_for_user
from access.services import members as services
from tests import factories

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)"),
]


def _race(
    monkeypatch: pytest.MonkeyPatch, first: Callable[[], Any], second: Callable[[], Any]
) -> list[str]:
    barrier = threading.Barrier(2, timeout=2)
    original = services.guard_last_admin

    def guard_after_both_arrive(project: Any, admins_before: set[int]) -> None:
        # Broken: the other transaction is blocked on the lock, so go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        original(project, admins_before)

    monkeypatch.setattr(services, "guard_last_admin", guard_after_both_arrive)
    outcomes: list[str] = []

    def run(action: Callable[[], Any]) -> None:
        try:
            action()
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(f,)) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    return sorted(outcomes)


def _two_admins() -> tuple[Any, Any, Any]:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    bob = factories.make_member(project, "bob", roles=("Admin",))
    return project, alice, bob


def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, alice, bob = _two_admins()
    viewer = Role.objects.get(project=project, name="Viewer")
    a, b = principal_for_user(alice, project), principal_for_user(bob, project)
    outcomes = _race(
        monkeypatch,
        lambda: services.member_roles_set(actor=a, user=bob, roles=[viewer]),
        lambda: services.member_roles_set(actor=b, user=alice, roles=[viewer]),
    )
    assert outcomes == ["conflict", "ok"]
    assert len(services.project_admin_ids(project)) == 1


def test_two_admins_removing_each_other_at_once_leave_one_admin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, alice, bob = _two_admins()
    a, b = principal_for_user(alice, project), principal_for_user(bob, project)
    outcomes = _race(
        monkeypatch,
        lambda: services.member_remove(actor=a, user=bob),
        lambda: services.member_remove(actor=b, user=alice),
    )
    assert outcomes == ["conflict", "ok"]
    assert len(services.project_admin_ids(project)) == 1
    assert project.memberships.count() == 1
