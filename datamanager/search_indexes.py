"""Search indexes for the customer properties an admin marks searchable (issue 14 item 3).

Equality on *any* property already reads the shared GIN index (migration
``customers/0006``). "Contains" and "starts with" need an index per property: on
PostgreSQL, marking a property searchable builds a trigram (``pg_trgm``) index on exactly
the expression the filter compares (``customers.filters.search.search_expression_sql``),
partial to the property's project, plus expression statistics so the planner knows how
many customers a pattern matches (a partial index's own statistics are ignored by the
planner; without them it guessed 0.5 % for every prefix and scanned by id).

- :func:`searchable_set` is the one writer of the flag: the acting principal needs the
  Data manager permission, one audit event per change, and the index build or drop is
  queued after commit.
- :func:`search_index_sync` makes the database match the flag; it runs in a Celery task
  (eagerly when no broker is configured), outside any transaction, because ``CREATE INDEX
  CONCURRENTLY`` (no write lock on the customers) cannot run inside one.
- :func:`search_index_status` reads what the Data manager shows: state, progress of a
  running build (``pg_stat_progress_create_index``), size, and what the choice costs.

SQLite builds nothing: the flag is kept, the filter takes its plain path (a scan).
The flag never widens access: the filter refuses a PII attribute to a principal without
Personal data before any SQL runs, searchable or not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from celery import shared_task
from django.db import DatabaseError, connection, transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

from access.errors import InvalidInput, NotFound
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from customers.filters.search import search_expression_sql

from .models import AttributeType, CustomerAttribute, SearchIndexState

logger = logging.getLogger(__name__)

# Types whose values are text a person searches in ("contains", "starts with").
SEARCHABLE_TYPES = frozenset({AttributeType.STRING, AttributeType.LONGTEXT, AttributeType.URL})

# Measured at 1 M customers with an e-mail address each (docs/benchmarks.md, "Filter on
# any attribute"): what the Data manager quotes before an index exists.
MEASURED_INDEX_BYTES_PER_CUSTOMER = 59  # a 56 MB trigram index per 1 M e-mail addresses
MEASURED_BUILD_SECONDS_PER_MILLION = 27  # CREATE INDEX CONCURRENTLY, 2 shared cores
GIN_BYTES_PER_CUSTOMER = 114  # the shared equality index: 109 MB per 1 M customers

_LOCK_CLASS = 14_003  # pg_advisory_lock(class, attribute id): one build or drop at a time


def index_name(attribute_id: int) -> str:
    return f"customer_search_{attribute_id}"


def _stats_name(attribute_id: int) -> str:
    return f"customer_search_{attribute_id}_stats"


def _literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings, PostgreSQL's default)."""
    if "\x00" in value:
        raise InvalidInput("An attribute name cannot contain a NUL character.")
    return "'" + value.replace("'", "''") + "'"


def _expression(name: str) -> str:
    return search_expression_sql("properties", _literal(name))


# The flag (the one writer) ---------------------------------------------------------------


def searchable_set(*, actor: Principal, name: str, searchable: bool) -> CustomerAttribute:
    """Mark the customer property ``name`` searchable or not; the index follows after commit.

    Refused with a 4xx and nothing written: without the Data manager permission, for an
    unknown name or an ID (IDs have their own index), for a type that is not text. Setting
    the flag it already has changes nothing and writes no audit event.
    """
    actor.require(Perm.MANAGE_DATA)
    with transaction.atomic():
        attribute = (
            CustomerAttribute.objects.select_for_update()
            .filter(project=actor.project, name=name)
            .first()
        )
        if attribute is None:
            # Not repeated: an unknown name is what the caller typed, maybe a value.
            raise NotFound("No such customer attribute in this project.")
        if attribute.is_id:
            raise InvalidInput(f"'{name}' is an ID: IDs are always searchable by their value.")
        if searchable and attribute.type not in SEARCHABLE_TYPES:
            raise InvalidInput(
                f"'{name}' holds {attribute.get_type_display().lower()} values: only text "
                "properties (string, long text, URL) can be searchable."
            )
        if attribute.searchable == searchable:
            return attribute
        attribute.searchable = searchable
        if connection.vendor == "postgresql":
            attribute.search_index_state = SearchIndexState.QUEUED
        attribute.save(update_fields=["searchable", "search_index_state", "updated_at"])
        audit_record(
            actor=actor,
            action="datamanager.searchable",
            target_type="customer_attribute",
            target_id=attribute.pk,
            details={"attribute": name, "old": not searchable, "new": searchable},
        )
        if connection.vendor == "postgresql":
            pk = attribute.pk
            transaction.on_commit(lambda: search_index_enqueue(attribute_id=pk))
    return attribute


# The index (background) ------------------------------------------------------------------


@shared_task(name="datamanager.search_index_sync", acks_late=True, ignore_result=True)
def search_index_sync_task(attribute_id: int) -> None:
    search_index_sync(attribute_id=attribute_id)


def search_index_enqueue(*, attribute_id: int) -> None:
    """Queue the build or drop; without a reachable broker it runs here (and the state on
    the page says how it went), never lost."""
    try:
        search_index_sync_task.delay(attribute_id)
    except BrokerUnavailable:
        logger.warning("Broker unreachable: building search index %s in-process.", attribute_id)
        search_index_sync(attribute_id=attribute_id)


def search_index_sync(*, attribute_id: int) -> str:
    """Build or drop the attribute's index so it matches its flag; returns the new state.

    Runs outside a transaction (``CONCURRENTLY``). One run per attribute at a time (an
    advisory lock), and the flag is read again under the lock, so a flag turned on and off
    quickly ends as the last click said. A failed concurrent build leaves an invalid index:
    it is dropped before the next try.
    """
    if connection.vendor != "postgresql":
        return SearchIndexState.NONE
    if connection.in_atomic_block:
        raise RuntimeError("search_index_sync runs outside a transaction (CONCURRENTLY).")
    name, stats = index_name(attribute_id), _stats_name(attribute_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, attribute_id])
        try:
            row = (
                CustomerAttribute.objects.filter(pk=attribute_id)
                .values_list("searchable", "name", "project_id")
                .first()
            )
            if row is None or not row[0]:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                cursor.execute(f"DROP STATISTICS IF EXISTS {stats}")
                return _state_set(attribute_id, SearchIndexState.NONE)
            _, attribute_name, project_id = row
            _state_set(attribute_id, SearchIndexState.BUILDING)
            expression = _expression(attribute_name)
            try:
                if index_is_invalid(cursor, name):
                    cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                cursor.execute(
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON customers_customer "
                    f"USING gin (({expression}) gin_trgm_ops) WHERE project_id = {int(project_id)}"
                )
                cursor.execute(
                    f"CREATE STATISTICS IF NOT EXISTS {stats} ON ({expression}) "
                    "FROM customers_customer"
                )
                cursor.execute("ANALYZE customers_customer")
            except DatabaseError:
                logger.exception("Building search index %s failed.", name)
                return _state_set(attribute_id, SearchIndexState.FAILED)
            return _state_set(attribute_id, SearchIndexState.READY)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, attribute_id])


def index_is_invalid(cursor: object, name: str) -> bool:
    """True if ``name`` is an index a failed ``CREATE INDEX CONCURRENTLY`` left invalid."""
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s",
        [name],
    )
    row = cursor.fetchone()  # type: ignore[attr-defined]
    return bool(row and row[0])


def _state_set(attribute_id: int, state: str) -> str:
    CustomerAttribute.objects.filter(pk=attribute_id).update(search_index_state=state)
    return state


# What the Data manager shows ----------------------------------------------------------------


@dataclass(frozen=True)
class SearchIndexStatus:
    """One property's search index as the Data manager shows it."""

    state: str
    size_bytes: int | None = None  # the index on disk, once it exists
    progress: int | None = None  # percent of a running build
    phase: str = ""  # PostgreSQL's name of the running build's phase

    @property
    def label(self) -> str:
        if self.state == SearchIndexState.BUILDING and self.progress is not None:
            return f"Building index… {self.progress} %"
        return str(SearchIndexState(self.state).label)


def search_index_status(attributes: Iterable[CustomerAttribute]) -> dict[int, SearchIndexStatus]:
    """State, size and build progress per attribute id (two catalog queries on PostgreSQL,
    none elsewhere)."""
    attributes = [a for a in attributes if a.searchable or a.search_index_state]
    if not attributes:
        return {}
    if connection.vendor != "postgresql":
        return {a.pk: SearchIndexStatus(state=a.search_index_state) for a in attributes}
    sizes, progress = index_sizes_and_progress({index_name(a.pk): a.pk for a in attributes})
    out = {}
    for a in attributes:
        percent, phase = progress.get(a.pk, (None, ""))
        out[a.pk] = SearchIndexStatus(
            state=a.search_index_state, size_bytes=sizes.get(a.pk), progress=percent, phase=phase
        )
    return out


def index_sizes_and_progress(
    names: dict[str, int],
) -> tuple[dict[int, int], dict[int, tuple[int | None, str]]]:
    """For indexes named as keys (PostgreSQL): the size of each that exists and the percent
    and phase of each being built, by the ids given as values (two catalog queries)."""
    sizes: dict[int, int] = {}
    progress: dict[int, tuple[int | None, str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
            [list(names)],
        )
        for relname, size in cursor.fetchall():
            sizes[names[relname]] = int(size)
        cursor.execute(
            "SELECT c.relname, p.phase, p.blocks_total, p.blocks_done, p.tuples_total,"
            " p.tuples_done FROM pg_stat_progress_create_index p"
            " JOIN pg_class c ON c.oid = p.index_relid WHERE c.relname = ANY(%s)",
            [list(names)],
        )
        for (
            relname,
            phase,
            blocks_total,
            blocks_done,
            tuples_total,
            tuples_done,
        ) in cursor.fetchall():
            percent = _percent(blocks_done, blocks_total) or _percent(tuples_done, tuples_total)
            progress[names[relname]] = (percent, phase)
    return sizes, progress


def _percent(done: int | None, total: int | None) -> int | None:
    if not total:
        return None
    return min(100, int(100 * (done or 0) / total))


def search_index_cost(customers: int) -> dict[str, str]:
    """What marking a property searchable costs, for ``customers`` customers, in words."""
    size_mb = customers * MEASURED_INDEX_BYTES_PER_CUSTOMER / 1e6
    seconds = customers / 1e6 * MEASURED_BUILD_SECONDS_PER_MILLION
    return {
        "size": f"about {size_mb:,.0f} MB" if size_mb >= 1 else "under 1 MB",
        "build": f"about {max(seconds, 1):,.0f} s" if seconds >= 1 else "about a second",
    }
