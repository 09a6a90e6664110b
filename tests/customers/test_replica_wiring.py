"""The customer list and CSV export read customer data inside ``replica_reads()``.

No replica is configured in tests, so every query still runs on ``default``; what is
checked is whether each query ran while the opt-in was active, i.e. where it would go
with ``DATABASE_REPLICA_URL`` set. The router itself (catalog, permissions and sessions
always on the primary) is tested in tests/test_db_router.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from exponea_pii import db_router

from .demo_data import Demo, seed_demo


@pytest.fixture
def demo(db: Any) -> Demo:
    return seed_demo(5)


class Recorder:
    """Each customer-table SELECT, with whether replica reads were wanted when it ran."""

    def __init__(self) -> None:
        self.customer_reads: list[bool] = []

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith("SELECT") and (
            '"customers_customer"' in sql or '"customers_customerid"' in sql
        ):
            self.customer_reads.append(db_router._replica_wanted.get())
        return execute(sql, *args)


def test_list_reads_customers_inside_replica_reads(demo: Demo) -> None:
    client = Client()
    client.force_login(demo.admin)
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        response = client.get(reverse("customers:list", kwargs={"token": demo.project.token}))
    assert response.status_code == 200
    assert len(response.context["rows"]) == 5
    # The page, its IDs and its count: all opted in.
    assert len(recorder.customer_reads) >= 2
    assert all(recorder.customer_reads)
    assert db_router._replica_wanted.get() is False


def test_export_streams_rows_inside_replica_reads_only_while_producing(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from customers.services import export_engine

    asked: list[bool] = []  # PostgreSQL: the COPY's connection, chosen while opted in?

    def recording_read_alias() -> str:
        asked.append(db_router._replica_wanted.get())
        return db_router.read_alias()

    monkeypatch.setattr(export_engine, "read_alias", recording_read_alias)
    client = Client()
    client.force_login(demo.admin)
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        url = reverse("customers:export_csv", kwargs={"token": demo.project.token})
        response: Any = client.get(url)
        assert response.status_code == 200
        # Decided and counted in the service's transaction, on the primary.
        assert recorder.customer_reads and not any(recorder.customer_reads)
        decided = len(recorder.customer_reads)
        blocks = list(response.streaming_content)
    streamed = recorder.customer_reads[decided:]
    assert len(b"".join(blocks).decode().strip().splitlines()) == 6  # header + 5 customers
    assert asked == [True]
    if connection.vendor == "postgresql":
        assert streamed == []  # one COPY on that connection, not a Django query
    else:
        assert streamed and all(streamed)  # the rows and their IDs, chunk by chunk
    assert db_router._replica_wanted.get() is False
