"""Writing the personal-data access log: one row per request that revealed anything.

Views hand over the request's :class:`~datamanager.masking.Masker` after it rendered
their data; the masker knows which PII names it let through. A principal without
Personal data is never shown a value, so its views write nothing. Exports record their
column plan up front (the rows stream after the view returned).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection

from access.principal import Principal
from datamanager.masking import Masker

from .models import Channel, PersonalDataAccess
from .writer import access_log_writer

# An export of more customers than this records its filter, count and id, not the ids.
EXPORT_IDS_LIMIT = 1000


def access_log_enabled() -> bool:
    """Off only where a benchmark compares the cost (``PERSONAL_DATA_ACCESS_LOG``)."""
    return bool(getattr(settings, "PERSONAL_DATA_ACCESS_LOG", True))


def access_log_async() -> bool:
    """Entries outside a transaction go to the background writer (production settings;
    tests keep it off: their data lives in a transaction the writer cannot see). On
    PostgreSQL only: SQLite has one write lock per database, so a writer thread makes the
    request wait on it instead (bench/access_log.py measured it slower there)."""
    return bool(getattr(settings, "PERSONAL_DATA_ACCESS_LOG_ASYNC", False))


def access_record(
    *,
    actor: Principal,
    channel: Channel,
    view: str,
    attribute_names: Iterable[str],
    customer_ids: Sequence[int] = (),
    customer_count: int | None = None,
    customer_filter: Any = None,
    export_id: uuid.UUID | None = None,
    reason: str = "",
) -> PersonalDataAccess | None:
    """Append one access entry (a single INSERT) if PII names were shown; else nothing.

    ``customer_filter`` (a :class:`~customers.filters.CustomerFilter`) is stored as its
    attribute names and event types only: a filter's values may themselves be PII.
    """
    names = sorted(set(attribute_names))
    shown = actor.can_see_personal_data or channel == Channel.REVEAL
    if not names or not shown or not access_log_enabled():
        return None
    ids = sorted(set(customer_ids))
    filter_names: dict[str, list[str]] = {}
    if customer_filter is not None:
        filter_names = {
            "attributes": sorted(customer_filter.attribute_names),
            "event_types": sorted(customer_filter.event_types),
        }
    entry = PersonalDataAccess(
        project=actor.project,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:200],
        channel=channel,
        view=view[:64],
        customer_ids=ids,
        customer_count=len(ids) if customer_count is None else customer_count,
        attribute_names=names,
        filter=filter_names,
        export_id=export_id,
        reason=reason,
        ip=actor.ip,
    )
    if not connection.in_atomic_block and access_log_async() and connection.vendor == "postgresql":
        access_log_writer.put(entry)  # written by the background writer (writer.py)
    elif connection.vendor == "postgresql" and not connection.in_atomic_block:
        _insert_without_waiting_for_wal(entry)
    else:
        entry.save(force_insert=True)
    return entry


def _insert_without_waiting_for_wal(entry: PersonalDataAccess) -> None:
    """One statement, one round trip, committed without waiting for the WAL flush.

    A page view's entry is alone in its (autocommit) transaction: ``set_config(...,
    true)`` turns ``synchronous_commit`` off for that transaction only, inside the INSERT
    itself (the FROM makes PostgreSQL evaluate it), so the page neither waits for the
    disk nor pays for BEGIN / SET LOCAL / COMMIT round trips (docs/benchmarks.md). A
    crash may lose the last fraction of a second of entries, never corrupt them. Inside
    a caller's transaction (an export) the ORM's ordinary save is used instead.
    """
    fields = [f for f in PersonalDataAccess._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    # Explicit casts: parameters in a SELECT list would otherwise be resolved as text.
    values = ", ".join(f"%s::{f.db_type(connection)}" for f in fields)
    table = connection.ops.quote_name(PersonalDataAccess._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {values} "  # noqa: S608 - model names
        "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit "
        "RETURNING id"
    )
    params = [f.get_db_prep_save(f.pre_save(entry, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        entry.pk = cursor.fetchone()[0]
    entry._state.adding = False
    entry._state.db = connection.alias


def access_record_shown(
    *,
    actor: Principal,
    masker: Masker,
    channel: Channel,
    view: str,
    customer_ids: Sequence[int],
    reason: str = "",
) -> PersonalDataAccess | None:
    """The entry for a page or API read, from what ``masker`` let through while rendering.

    A masker holding a temporary reveal makes it a ``reveal`` entry with the reveal's
    reason, whatever channel the view names.
    """
    if not masker.revealed:
        return None
    if masker.reveal is not None:
        channel, reason = Channel.REVEAL, masker.reveal.reason
    return access_record(
        actor=actor,
        channel=channel,
        view=view,
        attribute_names=masker.revealed,
        customer_ids=customer_ids,
        reason=reason,
    )


def access_record_export(
    *,
    actor: Principal,
    masker: Masker,
    channel: Channel,
    view: str,
    columns: Iterable[str],
    matching: Any,
    row_count: int,
    customer_filter: Any,
) -> uuid.UUID | None:
    """The entry for an export, before its rows stream: the PII columns it will show, and
    the customers (their ids up to :data:`EXPORT_IDS_LIMIT`, else filter + count + id)."""
    names = masker.revealable_customer_attributes(columns)
    if not names or not access_log_enabled():
        return None
    export_id = uuid.uuid4()
    ids: list[int] = []
    if row_count <= EXPORT_IDS_LIMIT:
        ids = list(matching.order_by().values_list("pk", flat=True)[: EXPORT_IDS_LIMIT + 1])
    access_record(
        actor=actor,
        channel=channel,
        view=view,
        attribute_names=names,
        customer_ids=ids,
        customer_count=row_count,
        customer_filter=customer_filter,
        export_id=export_id,
    )
    return export_id
