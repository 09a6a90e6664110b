"""The database restarting under tracking traffic: 503 + Retry-After, never a 500, nothing half-written.

A restart is **simulated** (the shared PostgreSQL server of this machine serves other test
runs, so the suite never restarts it): a connection ``execute_wrapper`` raises what psycopg
raises when the server goes away — ``OperationalError`` on the Nth query of the request,
for every N the request issues, or ``InterfaceError`` (a connection already closed). Each
dropped request must answer Exponea's error shape with status 503 and ``Retry-After``, and
leave the project exactly as it was; the retry then writes everything exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from customers.models import Customer, CustomerId, Event
from tests.api.conftest import ApiClient
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)

COMMANDS = [
    {
        "name": "customers",
        "data": {"customer_ids": {"registered": "r1@x.test"}, "properties": {"plan": "a"}},
    },
    {
        "name": "customers/events",
        "data": {"customer_ids": {"registered": "r1@x.test"}, "event_type": "view"},
    },
    {
        "name": "customers",
        "data": {"customer_ids": {"registered": "r2@x.test"}, "properties": {"plan": "b"}},
    },
    {
        "name": "customers/events",
        "data": {"customer_ids": {"registered": "r2@x.test"}, "event_type": "purchase"},
    },
]


class FailAt:
    def __init__(self, n: int, error: type[Exception]) -> None:
        self.n, self.error, self.count = n, error, 0

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.count += 1
        if self.count == self.n:
            raise self.error("server closed the connection unexpectedly (simulated)")
        return execute(sql, *args)


def _state(world: World) -> tuple[int, int, int]:
    project = world.project
    return (
        Customer.objects.filter(project=project).count(),
        CustomerId.objects.filter(project=project).count(),
        Event.objects.filter(project=project).count(),
    )


def _assert_503(response: Any) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "success": False,
        "errors": ["Service temporarily unavailable; retry later."],
    }


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_batch_during_a_database_restart_answers_503_and_writes_nothing(
    world: World, full: ApiClient, error: type[Exception]
) -> None:
    before = _state(world)
    n = 0
    while True:
        n += 1
        failing = FailAt(n, error)
        with connection.execute_wrapper(failing):
            response = full.track("batch", {"commands": COMMANDS})
        if failing.count < n:
            break  # the request finished before the drop point: this was the retry
        _assert_503(response)
        assert _state(world) == before, f"half-written batch after a drop at query {n}"
        assert n < 200
    assert response.status_code == 200
    assert [r["success"] for r in response.json()["results"]] == [True] * 4
    customers, ids, events = _state(world)
    assert (customers, ids, events) == (before[0] + 2, before[1] + 2, before[2] + 2)
    assert n > 3  # the drop was tried at several points, not only at authentication


def test_single_event_during_a_database_restart_answers_503(world: World, full: ApiClient) -> None:
    before = _state(world)
    with connection.execute_wrapper(FailAt(3, OperationalError)):
        response = full.track(
            "customers/events",
            {"customer_ids": {"registered": "s1@x.test"}, "event_type": "view"},
        )
    _assert_503(response)
    assert _state(world) == before
    response = full.track(
        "customers/events", {"customer_ids": {"registered": "s1@x.test"}, "event_type": "view"}
    )
    assert response.status_code == 200
    assert _state(world)[2] == before[2] + 1


def test_the_app_checks_connections_before_reuse() -> None:
    """CONN_HEALTH_CHECKS: a connection the restart killed is replaced, not reused."""
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


# The server really closing the connection (PostgreSQL) ---------------------------------------


class KillConnectionAt:
    """At the request's Nth query, the server terminates this connection (as a restart does),
    from a second connection; the query then fails inside psycopg itself."""

    def __init__(self, n: int) -> None:
        self.n, self.count = n, 0

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.count += 1
        if self.count == self.n:
            import psycopg

            pid = connection.connection.info.backend_pid  # type: ignore[union-attr]
            s = connection.settings_dict
            with psycopg.connect(
                host=s["HOST"] or "127.0.0.1",
                port=s["PORT"] or 5432,
                user=s["USER"] or None,
                password=s.get("PASSWORD") or None,
                dbname=s["NAME"],
                autocommit=True,
            ) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return execute(sql, *args)


def test_batch_when_the_server_drops_the_connection_answers_503_then_reconnects(
    world: World, full: ApiClient
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend needs PostgreSQL")
    before = _state(world)
    for n in (1, 3, 5):
        killer = KillConnectionAt(n)
        with connection.execute_wrapper(killer):
            response = full.track("batch", {"commands": COMMANDS})
        # What Django's handler does at every request boundary (the test client switches it
        # off): CONN_HEALTH_CHECKS / errors_occurred discard the connection the server killed.
        close_old_connections()
        assert killer.count >= n, "the batch issued fewer queries than the kill point"
        _assert_503(response)
        assert _state(world) == before, f"half-written batch after a kill at query {n}"
    # The next request gets a new connection by itself (the dead one was discarded).
    response = full.track("batch", {"commands": COMMANDS})
    assert response.status_code == 200
    assert [r["success"] for r in response.json()["results"]] == [True] * 4
    assert _state(world) == (before[0] + 2, before[1] + 2, before[2] + 2)
