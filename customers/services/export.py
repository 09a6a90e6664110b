"""The customer filter's CSV download: the page's columns, through the export engine.

The page exports the internal id, every ID name (hard ones first) and the property columns
the user chose for the list, filtered as on screen; everything else (masking, audit,
access log, streaming) is :mod:`.export_engine`'s, shared with the API.
"""

from __future__ import annotations

from collections.abc import Sequence

from access.errors import InvalidInput
from access.principal import Principal

from ..filters import CustomerFilter
from ..selectors import customer_attributes
from .export_engine import (
    CustomerExport,
    ExportField,
    ExportFormat,
    ExportRequest,
    ExportVia,
    customers_export,
)


def customers_export_csv(
    *,
    actor: Principal,
    customer_filter: CustomerFilter,
    columns: Sequence[str],
    chunk_size: int | None = None,
) -> CustomerExport:
    """Export the customers matching ``customer_filter``: internal id, IDs and ``columns``.

    Needs ``export_customers``. Masked exactly as the API's export of the same columns; a
    filter on a PII attribute by an actor without Personal data is refused before anything
    is counted or audited.
    """
    attributes = customer_attributes(actor.project)
    id_columns = [a.name for a in attributes if a.is_id]
    known = {a.name for a in attributes if not a.is_id}
    unknown = [c for c in columns if c not in known and c not in id_columns]
    if unknown:
        raise InvalidInput(f"Unknown column(s): {', '.join(sorted(unknown)[:10])}.")
    property_columns = list(dict.fromkeys(c for c in columns if c in known))
    fields = (
        ExportField.internal_id(),
        *(ExportField.for_id(name) for name in id_columns),
        *(ExportField.for_property(name) for name in property_columns),
    )
    return customers_export(
        actor=actor,
        request=ExportRequest(customer_filter, fields, ExportFormat.CSV),
        via=ExportVia.PAGE,
        chunk_size=chunk_size,
    )
