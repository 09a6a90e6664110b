"""Bulk anonymization requests: which customers a request names, and the job that does it.

One place decides for every bulk path (the list page's form, the command line, the API's
``anonymize_bulk``), in two steps: a *selection* (:class:`BulkSelection`: the job's items
and the counts a confirmation states) and its *start* (:func:`bulk_anonymization_start`:
the job, idempotent for a double submit when the caller passes its request).

A selection by rows (ticked rows, every row matching a filter) leaves out customers
anonymized already and says how many it left out. A selection by IDs (a file, an API
body) keeps every customer found, anonymized already or not: it names people, the job's
total is the number found, and the job's step skips the anonymized ones without tracking
anything (a file run twice reports the same customers processed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from access.principal import Principal

from ..filters import CustomerFilter, customers_matching
from ..models import AnonymizationJob, Customer
from ..selectors import customers_for
from .anonymization_jobs import (
    anonymization_entries_resolve,
    anonymization_job_create,
    anonymization_request_key,
)

RESOLVE_BATCH = 1000


@dataclass(frozen=True)
class BulkSelection:
    """What a bulk request would anonymize, decided before anything is written."""

    customers: QuerySet[Customer] | tuple[int, ...]  # the job's items
    count: int  # how many items the job will hold
    not_found: tuple[int, ...] = ()  # positions of entries that named nobody
    named: QuerySet[Customer] | None = None  # rows named, anonymized ones included

    def skipped(self) -> int:
        """Customers named but left out because they are anonymized already (one query)."""
        return self.named.count() - self.count if self.named is not None else 0


def bulk_selection_of_rows(actor: Principal, pks: Sequence[int]) -> BulkSelection:
    """The ticked rows of the list that are not anonymized yet (the principal's project only)."""
    return _rows(customers_for(actor).filter(pk__in=list(pks)))


def bulk_selection_matching(actor: Principal, customer_filter: CustomerFilter) -> BulkSelection:
    """Every customer the filter matches that is not anonymized yet."""
    return _rows(customers_matching(actor, customer_filter))


def _rows(named: QuerySet[Customer]) -> BulkSelection:
    pending = named.filter(anonymized_at__isnull=True)
    return BulkSelection(customers=pending, count=pending.count(), named=named)


def bulk_selection_by_ids(
    actor: Principal, entries: Sequence[Mapping[str, Any]], *, batch: int = RESOLVE_BATCH
) -> BulkSelection:
    """The customers that entries name (``{"customer_ids": {...}}`` or ``{"internal_id": ...}``).

    Resolved ``batch`` entries at a time by
    :func:`~.anonymization_jobs.anonymization_entries_resolve` (an error names the entry's
    position in ``entries``, never a value); each customer once, in the order first named.
    """
    found: dict[int, None] = {}
    not_found: list[int] = []
    for start in range(0, len(entries), batch):
        part = entries[start : start + batch]
        resolved = anonymization_entries_resolve(actor=actor, entries=part, first_position=start)
        for offset, pk in enumerate(resolved):
            if pk is None:
                not_found.append(start + offset)
            else:
                found[pk] = None
    pks = tuple(found)
    return BulkSelection(customers=pks, count=len(pks), not_found=tuple(not_found))


def bulk_anonymization_start(
    *,
    actor: Principal,
    selection: BulkSelection,
    source: str,
    request: Any = None,
    not_found: Sequence[Any] | None = None,
    start: bool = True,
) -> AnonymizationJob:
    """The job for ``selection`` (:func:`~.anonymization_jobs.anonymization_job_create`).

    ``request``: what the caller was asked, for the double-submit key
    (:func:`~.anonymization_jobs.anonymization_request_key`); ``None`` for no key.
    ``not_found``: what the job records as naming nobody, if not the selection's positions
    (the command line records file lines).
    """
    return anonymization_job_create(
        actor=actor,
        source=source,
        customers=selection.customers
        if isinstance(selection.customers, QuerySet)
        else list(selection.customers),
        not_found=selection.not_found if not_found is None else not_found,
        start=start,
        request_key=""
        if request is None
        else anonymization_request_key(actor=actor, source=source, request=request),
    )
