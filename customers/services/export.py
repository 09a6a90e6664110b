"""Audited exports of customer data (the CSV download of the customer filter).

The export is decided and audited up front, in one transaction: permission, PII refusals
of the filter, the row count and the audit event. The rows are then produced lazily in
chunks, masked by the :class:`~datamanager.masking.Masker`, so a million customers
never sit in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db import transaction
from django.utils import timezone

from access.errors import InvalidInput
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from accountability.models import Channel
from accountability.services import access_record_export
from datamanager.masking import Masker

from ..filters import CustomerFilter, customers_matching
from ..presenters import csv_row
from ..selectors import customer_attributes, ids_of_customer_chunk

EXPORT_CHUNK_SIZE = 2000
# CSV lines per yielded string; about 100 kB, so memory stays bounded.
LINES_PER_BLOCK = 1000


@dataclass(frozen=True)
class CustomerCsvExport:
    """A decided, audited export: its header, row count and a lazy iterator of masked rows."""

    filename: str
    header: list[str]
    row_count: int
    rows: Iterator[list[str]]

    def lines(self) -> Iterator[str]:
        """The CSV text in blocks of up to :data:`LINES_PER_BLOCK` lines (for a streaming
        response): one string per line meant a million ``make_bytes`` calls and WSGI
        writes for a million customers."""
        buffer = _LineBuffer()
        writer = csv.writer(buffer)
        block = [writer.writerow(self.header)]
        for row in self.rows:
            block.append(writer.writerow(row))
            if len(block) >= LINES_PER_BLOCK:
                yield "".join(block)
                block = []
        if block:
            yield "".join(block)


class _LineBuffer:
    """A file-like object whose ``write`` returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _chunks(iterator: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(iterator, size)):
        yield chunk


@transaction.atomic
def customers_export_csv(
    *,
    actor: Principal,
    customer_filter: CustomerFilter,
    columns: Sequence[str],
    chunk_size: int = EXPORT_CHUNK_SIZE,
) -> CustomerCsvExport:
    """Export the customers matching ``customer_filter`` with the ID columns and ``columns``.

    Needs ``export_customers``. Values are masked for the actor exactly as on screen; a
    filter on a PII attribute by an actor without Personal data is refused before anything
    is counted. The audit event records the filter's attribute names, event types, the
    columns and the row count, never a value.
    """
    actor.require(Perm.EXPORT_CUSTOMERS)
    masker = Masker.for_principal(actor)
    matching = customers_matching(actor, customer_filter, masker=masker)
    attributes = customer_attributes(actor.project)
    id_columns = [a.name for a in attributes if a.is_id]
    known = {a.name for a in attributes if not a.is_id}
    property_columns = list(dict.fromkeys(c for c in columns if c in known))
    unknown = [c for c in columns if c not in known and c not in id_columns]
    if unknown:
        raise InvalidInput(f"Unknown column(s): {', '.join(sorted(unknown)[:10])}.")
    row_count = matching.count()
    audit_record(
        actor=actor,
        action="customers.export",
        target_type="project",
        target_id=actor.project.pk,
        details={
            "format": "csv",
            "filter_attributes": list(customer_filter.attribute_names),
            "filter_event_types": list(customer_filter.event_types),
            "columns": property_columns,
            "row_count": row_count,
            "personal_data": masker.can_see_personal_data,
        },
    )
    access_record_export(
        actor=actor,
        masker=masker,
        channel=Channel.EXPORT,
        view="customers.export_csv",
        columns=[*id_columns, *property_columns],
        matching=matching,
        row_count=row_count,
        customer_filter=customer_filter,
    )

    project_id = actor.project.pk

    def rows() -> Iterator[list[str]]:
        stream = matching.order_by("pk").values_list("pk", "properties").iterator(chunk_size)
        for chunk in _chunks(stream, chunk_size):
            ids = ids_of_customer_chunk(project_id, [pk for pk, _ in chunk])
            for pk, properties in chunk:
                yield csv_row(
                    masker,
                    customer_pk=pk,
                    properties=properties,
                    ids=ids.get(pk, {}),
                    id_columns=id_columns,
                    property_columns=property_columns,
                )

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return CustomerCsvExport(
        filename=f"customers-{stamp}.csv",
        header=["internal_id", *id_columns, *property_columns],
        row_count=row_count,
        rows=rows(),
    )
