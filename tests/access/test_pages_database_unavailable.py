"""A page whose database goes away mid-request answers 503 with Retry-After, as the API does.

Simulated as in tests/api/test_database_unavailable.py: an ``execute_wrapper`` raises what
psycopg raises when the server closes the connection, on the Nth query of the request. The
page must not be Django's bare 500, and nothing of the request may be written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client

from access.models import AuditEvent
from datamanager.models import CustomerAttribute
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)


class FailFrom:
    """Every query from the Nth on fails: the server is gone."""

    def __init__(self, n: int, error: type[Exception]) -> None:
        self.n, self.error, self.count = n, error, 0

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.count += 1
        if self.count >= self.n:
            raise self.error("server closed the connection unexpectedly (simulated)")
        return execute(sql, *args)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
@pytest.mark.parametrize("fail_from", [1, 3, 6])
def test_the_customer_list_answers_503_when_the_database_goes_away(
    world: World, error: type[Exception], fail_from: int
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(world.admin)
    url = f"/projects/{world.project.token}/customers/"
    with connection.execute_wrapper(FailFrom(fail_from, error)):
        response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "Temporarily unavailable" in html and "Nothing of this request was saved" in html
    assert "Server Error" not in html
    assert client.get(url).status_code == 200  # back once the database answers


def test_an_api_path_outside_drf_answers_in_exponeas_shape(world: World) -> None:
    client = Client(raise_request_exception=False)
    with connection.execute_wrapper(FailFrom(1, OperationalError)):
        response = client.get(f"/data/v2/projects/{world.project.token}/no-such-endpoint/x")
    # An unknown API path needs no database: still the 404 in Exponea's shape.
    assert (response.status_code, response.json()) == (
        404,
        {"success": False, "errors": ["Not found."]},
    )


def _add_id_queries(world: World) -> int:
    """How many queries adding an ID through the page takes (the last one is its audit)."""
    counter = FailFrom(10**9, OperationalError)
    client = Client()
    client.force_login(world.admin)
    with connection.execute_wrapper(counter):
        client.post(_add_url(world), {"id-name": "probe_id", "id-kind": "soft"})
    return counter.count


def _add_url(world: World) -> str:
    return f"/projects/{world.project.token}/data-manager/ids/"


def test_adding_an_id_that_meets_the_outage_writes_nothing(world: World) -> None:
    """Whichever of its queries fails, the page answers 503 and the ID and its audit event
    are both absent: the write and its audit are one transaction."""
    total = _add_id_queries(world)
    assert total > 3
    client = Client(raise_request_exception=False)
    client.force_login(world.admin)
    for n in range(1, total + 1):
        with connection.execute_wrapper(FailFrom(n, OperationalError)):
            response = client.post(
                _add_url(world), {"id-name": "crm_id", "id-kind": "hard", "id-pii": "1"}
            )
        assert response.status_code == 503, n
        assert not CustomerAttribute.objects.filter(project=world.project, name="crm_id").exists()
        assert not AuditEvent.objects.filter(
            action="datamanager.id_create", details__attribute="crm_id"
        ).exists()
