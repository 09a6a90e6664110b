"""Filter indexes for event attributes (issue 14 item 3): the events' counterpart of
"searchable" customer properties (``datamanager/search_indexes.py``).

An event condition's ``where`` (``purchase where total > 100000``) is a JSON expression on
``customers_event.properties`` that no shared index covers: a value nobody has made the
list read every event (0.95 s CPU at 5 M events). An admin may give one event attribute
an index of its own, on PostgreSQL:

- a **number** attribute: a B-tree on ``filter_json_number(properties, key)`` (migration
  ``customers/0010``; it never raises, so no event's insert can fail on it), serving
  ``equals``, ``greater``, ``less`` and ``between``;
- a **text** attribute (string, long text, URL): a hash index on the typed text
  (``customers.filters.sql.JsonTypedValue``), serving ``equals`` (a hash index has no
  size limit on the value; a B-tree refuses a row over 2.7 kB, which would fail tracking).

Each is partial to the attribute's event type (``WHERE event_type_id = …``: the filter
passes the type's id as a literal), built ``CONCURRENTLY`` in a background task, with
expression statistics and an ``ANALYZE`` of the events so the planner knows how many
events a value matches (a partial index's own statistics are not used for estimates).

Every tracked event of that type then writes one more index entry: measured cost in
:data:`MEASURED_INGEST_COST`, quoted in the Data manager. The flag never widens access:
the filter refuses a PII attribute to a principal without Personal data before any SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import shared_task
from django.db import DatabaseError, connection, transaction
from kombu.exceptions import OperationalError as BrokerUnavailable

from access.errors import InvalidInput, NotFound
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from .models import AttributeType, EventAttribute, SearchIndexState
from .search_indexes import SearchIndexStatus, index_is_invalid, index_sizes_and_progress

logger = logging.getLogger(__name__)

NUMBER_TYPES = frozenset({AttributeType.NUMBER})
TEXT_TYPES = frozenset({AttributeType.STRING, AttributeType.LONGTEXT, AttributeType.URL})
INDEXABLE_TYPES = NUMBER_TYPES | TEXT_TYPES

# Measured at 1 M customers / 5 M events, 600 k purchases (docs/benchmarks.md, "Filter
# condition kinds"): what the Data manager quotes.
MEASURED_INDEX_BYTES_PER_EVENT = 23  # B-tree on purchase.total: 13.5 MB per 600 k purchases
# CREATE INDEX CONCURRENTLY reads the whole events table: 3.1 s for 5 M events (all types),
# plus about 1 s for the ANALYZE, on 2 shared cores at load 4-5.
MEASURED_BUILD_SECONDS_PER_MILLION = 1
# 100 k purchase rows inserted in one statement: 3.0 / 2.6 s without, 3.6 / 3.4 s with.
MEASURED_INGEST_COST = "about 15 % more database time per inserted event of that type"

_LOCK_CLASS = 14_004  # pg_advisory_lock(class, attribute id): one build or drop at a time


def index_name(attribute_id: int) -> str:
    return f"event_filter_{attribute_id}"


def _stats_name(attribute_id: int) -> str:
    return f"event_filter_{attribute_id}_stats"


def _literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings, PostgreSQL's default)."""
    if "\x00" in value:
        raise InvalidInput("An attribute name cannot contain a NUL character.")
    return "'" + value.replace("'", "''") + "'"


def index_expression(name: str, attribute_type: str) -> tuple[str, str]:
    """(index method, expression) for an attribute: exactly what the filter compares."""
    key = _literal(name)
    if attribute_type in NUMBER_TYPES:
        return "btree", f"filter_json_number(properties, {key})"
    text = (
        f"(CASE WHEN jsonb_typeof(properties -> {key}) = 'string' THEN (properties ->> {key}) END)"
    )
    return "hash", text


# The flag (the one writer) ---------------------------------------------------------------


def filter_index_set(*, actor: Principal, attribute_id: int, indexed: bool) -> EventAttribute:
    """Give the event attribute a filter index or take it away; the index follows after
    commit. Refused with a 4xx and nothing written: without the Data manager permission,
    for an attribute of another project, for a type that cannot be indexed. Setting the
    flag it already has changes nothing and writes no audit event."""
    actor.require(Perm.MANAGE_DATA)
    with transaction.atomic():
        attribute = (
            # Only the attribute's row: locking its event type would hold up the tracking
            # of every event of that type (their foreign-key checks) until this commits.
            EventAttribute.objects.select_for_update(of=("self",))
            .select_related("event_type")
            .filter(pk=attribute_id, event_type__project=actor.project)
            .first()
        )
        if attribute is None:
            raise NotFound("No such event attribute in this project.")
        label = f"{attribute.event_type.name}.{attribute.name}"
        if indexed and attribute.type not in INDEXABLE_TYPES:
            raise InvalidInput(
                f"'{label}' holds {attribute.get_type_display().lower()} values: only "
                "number and text attributes can have a filter index."
            )
        if attribute.filter_indexed == indexed:
            return attribute
        attribute.filter_indexed = indexed
        if connection.vendor == "postgresql":
            attribute.filter_index_state = SearchIndexState.QUEUED
        attribute.save(update_fields=["filter_indexed", "filter_index_state", "updated_at"])
        audit_record(
            actor=actor,
            action="datamanager.event_filter_index",
            target_type="event_attribute",
            target_id=attribute.pk,
            details={"attribute": label, "old": not indexed, "new": indexed},
        )
        if connection.vendor == "postgresql":
            pk = attribute.pk
            transaction.on_commit(lambda: filter_index_enqueue(attribute_id=pk))
    return attribute


# The index (background) ------------------------------------------------------------------


@shared_task(name="datamanager.event_filter_index_sync", acks_late=True, ignore_result=True)
def filter_index_sync_task(attribute_id: int) -> None:
    filter_index_sync(attribute_id=attribute_id)


def filter_index_enqueue(*, attribute_id: int) -> None:
    """Queue the build or drop; without a reachable broker it runs here."""
    try:
        filter_index_sync_task.delay(attribute_id)
    except BrokerUnavailable:
        logger.warning("Broker unreachable: building event index %s in-process.", attribute_id)
        filter_index_sync(attribute_id=attribute_id)


def filter_index_sync(*, attribute_id: int) -> str:
    """Build or drop the attribute's index so it matches its flag; returns the new state.

    As ``search_index_sync``: outside a transaction (``CONCURRENTLY``), one run per
    attribute at a time (an advisory lock), the flag read again under the lock, an invalid
    index left by a failed build dropped before the next try.
    """
    if connection.vendor != "postgresql":
        return SearchIndexState.NONE
    if connection.in_atomic_block:
        raise RuntimeError("filter_index_sync runs outside a transaction (CONCURRENTLY).")
    name, stats = index_name(attribute_id), _stats_name(attribute_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, attribute_id])
        try:
            row = (
                EventAttribute.objects.filter(pk=attribute_id)
                .values_list("filter_indexed", "name", "type", "event_type_id")
                .first()
            )
            if row is None or not row[0] or row[2] not in INDEXABLE_TYPES:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                cursor.execute(f"DROP STATISTICS IF EXISTS {stats}")
                return _state_set(attribute_id, SearchIndexState.NONE)
            _, attribute_name, attribute_type, type_id = row
            _state_set(attribute_id, SearchIndexState.BUILDING)
            method, expression = index_expression(attribute_name, attribute_type)
            try:
                if index_is_invalid(cursor, name):
                    cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                cursor.execute(
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON customers_event "
                    f"USING {method} (({expression})) WHERE event_type_id = {int(type_id)}"
                )
                cursor.execute(
                    f"CREATE STATISTICS IF NOT EXISTS {stats} ON ({expression}) "
                    "FROM customers_event"
                )
                cursor.execute("ANALYZE customers_event")
            except DatabaseError:
                logger.exception("Building event filter index %s failed.", name)
                return _state_set(attribute_id, SearchIndexState.FAILED)
            return _state_set(attribute_id, SearchIndexState.READY)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, attribute_id])


def _state_set(attribute_id: int, state: str) -> str:
    EventAttribute.objects.filter(pk=attribute_id).update(filter_index_state=state)
    return state


# What the Data manager shows ----------------------------------------------------------------


def filter_index_status(attributes: Iterable[EventAttribute]) -> dict[int, SearchIndexStatus]:
    """State, size and build progress per attribute id (two catalog queries on PostgreSQL,
    none elsewhere)."""
    attributes = [a for a in attributes if a.filter_indexed or a.filter_index_state]
    if not attributes:
        return {}
    if connection.vendor != "postgresql":
        return {a.pk: SearchIndexStatus(state=a.filter_index_state) for a in attributes}
    sizes, progress = index_sizes_and_progress({index_name(a.pk): a.pk for a in attributes})
    out = {}
    for a in attributes:
        percent, phase = progress.get(a.pk, (None, ""))
        out[a.pk] = SearchIndexStatus(
            state=a.filter_index_state, size_bytes=sizes.get(a.pk), progress=percent, phase=phase
        )
    return out


def filter_index_cost(events: int) -> dict[str, str]:
    """What an event attribute's filter index costs: its size for ``events`` events of its
    type, its build for ``events`` events in the table (the build reads all of them)."""
    size_mb = events * MEASURED_INDEX_BYTES_PER_EVENT / 1e6
    seconds = events / 1e6 * MEASURED_BUILD_SECONDS_PER_MILLION
    return {
        "size": f"about {size_mb:,.0f} MB" if size_mb >= 1 else "under 1 MB",
        "build": f"about {seconds:,.0f} s" if seconds >= 1 else "about a second",
        "ingest": MEASURED_INGEST_COST,
    }
