"""The background writer (PostgreSQL; SQLite writes in the request): a page's entry arrives
once, complete, after the page answered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from accountability.models import Channel, PersonalDataAccess
from accountability.services import access_record
from accountability.writer import access_log_flush, access_log_writer_stop

from .. import factories
from ..conftest import CANARIES, World

pytestmark = pytest.mark.django_db(transaction=True)  # the writer's connection must see data


@pytest.fixture(autouse=True)
def _stop_writer() -> Iterator[None]:
    yield
    access_log_writer_stop()  # its connection would keep the test database open


@override_settings(PERSONAL_DATA_ACCESS_LOG_ASYNC=True)
def test_a_profile_view_is_written_once_by_the_writer(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    url = reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )
    for _ in range(3):
        assert client.get(url).status_code == 200
    access_log_flush()
    entries = list(PersonalDataAccess.objects.order_by("id"))
    assert len(entries) == 3
    assert {e.view for e in entries} == {"customers.profile"}
    assert all(
        e.customer_ids == [world.customer.pk] and "email" in e.attribute_names for e in entries
    )
    assert not [c for e in entries for c in CANARIES if c in str(e.attribute_names)]


@override_settings(PERSONAL_DATA_ACCESS_LOG_ASYNC=True)
def test_inside_a_transaction_the_entry_is_written_at_once(world: World) -> None:
    actor = factories.principal_of(world.admin, world.project)
    with transaction.atomic():
        entry = access_record(
            actor=actor,
            channel=Channel.EXPORT,
            view="customers.export_csv",
            attribute_names=["email"],
            customer_ids=[world.customer.pk],
        )
        assert entry is not None and entry.pk is not None  # part of the caller's transaction
