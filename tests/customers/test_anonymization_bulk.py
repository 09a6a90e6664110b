"""The one bulk-anonymization decision (customers/services/anonymization_bulk.py), used by
the list page, the command line and the API: which customers a request names, what it
skips, and that positions in errors and not-found lists count across resolution batches."""

from __future__ import annotations

import pytest

from access.errors import InvalidInput
from access.selectors import principal_for_user
from customers.filters import CustomerFilter
from customers.models import AnonymizationJob
from customers.services.anonymization import customer_anonymize_one
from customers.services.anonymization_bulk import (
    bulk_anonymization_start,
    bulk_selection_by_ids,
    bulk_selection_matching,
    bulk_selection_of_rows,
)
from tests import factories
from tests.conftest import CANARY_EMAIL, World


def test_rows_leave_out_the_anonymized_and_count_them(world: World) -> None:
    actor = principal_for_user(world.admin, world.project)
    other = factories.track_customer(world.project, {"registered": "other@x.test"})
    customer_anonymize_one(actor=actor, source="app", customer_pk=other.pk)
    selection = bulk_selection_of_rows(actor, [world.customer.pk, other.pk])
    assert selection.count == 1 and selection.skipped() == 1
    matching = bulk_selection_matching(actor, CustomerFilter.from_string(""))
    assert matching.skipped() == 1
    assert other.pk not in set(matching.customers.values_list("pk", flat=True))  # type: ignore[union-attr]


def test_ids_keep_every_customer_found_and_count_positions_across_batches(
    world: World,
) -> None:
    actor = principal_for_user(world.admin, world.project)
    other = factories.track_customer(world.project, {"registered": "other@x.test"})
    customer_anonymize_one(actor=actor, source="app", customer_pk=other.pk)
    entries: list[dict[str, object]] = [
        {"customer_ids": {"registered": CANARY_EMAIL}},
        {"customer_ids": {"registered": "nobody@x.test"}},
        {"internal_id": str(other.pk)},  # anonymized already: still named, still an item
        {"customer_ids": {"registered": CANARY_EMAIL}},  # the same customer twice
        {"internal_id": "999999999"},
    ]
    selection = bulk_selection_by_ids(actor, entries, batch=2)
    assert selection.customers == (world.customer.pk, other.pk)
    assert selection.count == 2 and selection.skipped() == 0
    assert selection.not_found == (1, 4)
    job = bulk_anonymization_start(
        actor=actor, selection=selection, source=AnonymizationJob.Source.BULK_API, start=False
    )
    assert job.total == 2 and job.not_found == [1, 4]


def test_an_error_names_the_position_in_the_whole_request(world: World) -> None:
    actor = principal_for_user(world.admin, world.project)
    entries: list[dict[str, object]] = [
        {"customer_ids": {"registered": f"a{i}@x.test"}} for i in range(3)
    ]
    entries.append({"customer_ids": {"email": CANARY_EMAIL}})  # not an ID name
    with pytest.raises(InvalidInput) as exc:
        bulk_selection_by_ids(actor, entries, batch=2)
    assert "customers[3]" in exc.value.message
    assert CANARY_EMAIL not in exc.value.message
