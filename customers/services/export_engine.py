"""The one export engine: (principal, filter, fields, format) -> an audited stream of bytes.

Every customer export goes through :func:`customers_export`: the customer filter's CSV
download, and the API's ``csv``, ``native_json`` and ``table_json``. It decides and
records up front, in one transaction: the permission, the filter's PII refusals, the
column plan, the row count, the audit event and the personal-data access-log entry. The
rows are produced lazily after that, while the response streams.

The :class:`~datamanager.masking.Masker` decides which columns are masked (one question per
column, the *column plan*); how the rows are then produced depends on the database:

- **PostgreSQL** writes them itself: one ``COPY (SELECT ...) TO STDOUT`` per export. A
  masked column is the mask literal in the SELECT (``CASE WHEN value IS NULL THEN NULL ELSE
  '******' END``; a masked ID never even aggregates its values), the CSV formula guard is
  a ``CASE`` in SQL, and a JSON row is its cells' JSON texts, which Python brackets and
  joins a block at a time (:mod:`.export_copy`, which also reads the COPY in blocks).
- **SQLite** runs a plain Python loop behind the same interface, in keyset chunks, and
  renders the same bytes (jsonb's key order, PostgreSQL's CSV quoting).

Both paths read customer data inside :func:`~exponea_pii.db_router.replica_reads`.

A cell is the same on every path: a string as it is (CSV: formula-guarded), any other JSON
value as its JSON text (what PostgreSQL's ``->>`` gives), a hard ID as its value, a soft ID
as the JSON list of its values, and a masked value or ID as a single ``******`` (never one
per value: the count does not show either; a soft ID keeps its shape, ``["******"]``).
Missing is an empty CSV cell / JSON ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Any

from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from access.errors import InvalidInput
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from accountability.models import Channel
from accountability.services import access_record_export
from datamanager.masking import MASK, Masker
from datamanager.models import AttributeKind, CustomerAttribute
from exponea_pii.db_router import read_alias, replica_reads

from ..filters import CustomerFilter, customers_matching
from ..models import Customer
from ..presenters import csv_safe
from ..selectors import ids_of_customer_chunk
from .export_copy import copy_blocks, json_body
from .export_sql import COPY_CSV, COPY_JSON, MASKED_LIST_SQL, guard_sql, sql_literal

# Customers per query on the Python (SQLite) path.
EXPORT_CHUNK_SIZE = 2000
# Rows per yielded block (~50-100 kB for typical rows): one WSGI write per block, never the
# whole file in memory.
ROWS_PER_BLOCK = 500
# At most this many columns per export (the API's limit too).
MAX_FIELDS = 1000


class ExportFormat(StrEnum):
    CSV = "csv"
    NATIVE_JSON = "native_json"  # {"success", "fields": [{type, id|property}], "data": [[...]]}
    TABLE_JSON = "table_json"  # {"success", "header": [names], "rows": [[...]]}


class FieldKind(StrEnum):
    INTERNAL_ID = "internal_id"  # our customer id (the page's CSV starts with it)
    ID = "id"
    PROPERTY = "property"


@dataclass(frozen=True)
class ExportField:
    """One column: an external ID name, a customer property, or the internal id."""

    kind: FieldKind
    name: str

    @classmethod
    def internal_id(cls) -> ExportField:
        return cls(FieldKind.INTERNAL_ID, "internal_id")

    @classmethod
    def for_id(cls, name: str) -> ExportField:
        return cls(FieldKind.ID, name)

    @classmethod
    def for_property(cls, name: str) -> ExportField:
        return cls(FieldKind.PROPERTY, name)


class ExportVia(StrEnum):
    """Where the export was asked for: names the audit's ``via`` and the access-log view."""

    PAGE = "page"
    API = "api"


_ACCESS_LOG = {
    ExportVia.PAGE: (Channel.EXPORT, "customers.export_csv"),
    ExportVia.API: (Channel.API, "api.export"),
}
_CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.NATIVE_JSON: "application/json",
    ExportFormat.TABLE_JSON: "application/json",
}


@dataclass(frozen=True)
class ExportRequest:
    """What to export, already parsed and typed (request shapes are the caller's business)."""

    customer_filter: CustomerFilter
    fields: tuple[ExportField, ...]
    format: ExportFormat = ExportFormat.CSV


@dataclass(frozen=True)
class ExportColumn:
    """A field with the Masker's decision and, for IDs, whether it is a hard ID."""

    field: ExportField
    hidden: bool
    hard: bool = False


@dataclass(frozen=True)
class CustomerExport:
    """A decided, audited export: what to send and a lazy iterator of its bytes."""

    filename: str
    content_type: str
    row_count: int
    columns: tuple[ExportColumn, ...]
    blocks: Iterator[bytes]


def export_fields_all(project: Project) -> tuple[ExportField, ...]:
    """Every ID name (hard ones first, then by name), then every customer property by name:
    Exponea's ``properties_and_ids``."""
    rows = CustomerAttribute.objects.filter(project=project).values_list("name", "kind", "hard")
    ids = sorted((not hard, name) for name, kind, hard in rows if kind == AttributeKind.ID)
    props = sorted(name for name, kind, _ in rows if kind != AttributeKind.ID)
    return tuple(ExportField.for_id(name) for _, name in ids) + tuple(
        ExportField.for_property(name) for name in props
    )


def column_plan(
    project: Project, masker: Masker, fields: Sequence[ExportField]
) -> tuple[ExportColumn, ...]:
    """The fields checked against the catalog, each with the Masker's decision.

    A name the catalog does not know (or an ID name asked for as a property) is refused
    before anything is read or audited, without echoing it: a probe's "column name" may
    be a value (an e-mail address).
    """
    if len(fields) > MAX_FIELDS:
        raise InvalidInput(f"At most {MAX_FIELDS} columns per export.")
    catalog = {
        name: (kind == AttributeKind.ID, hard)
        for name, kind, hard in CustomerAttribute.objects.filter(
            project=project, name__in={f.name for f in fields}
        ).values_list("name", "kind", "hard")
    }
    columns = []
    for position, field in enumerate(fields, start=1):
        if field.kind is FieldKind.INTERNAL_ID:
            columns.append(ExportColumn(field, hidden=False))
            continue
        known = catalog.get(field.name)
        if known is None or known[0] != (field.kind is FieldKind.ID):
            raise InvalidInput(f"Column {position} is not a customer {field.kind.value} here.")
        columns.append(
            ExportColumn(field, hidden=masker.hides_customer_attribute(field.name), hard=known[1])
        )
    return tuple(columns)


@transaction.atomic
def customers_export(
    *,
    actor: Principal,
    request: ExportRequest,
    via: ExportVia,
    chunk_size: int | None = None,
) -> CustomerExport:
    """Export the customers matching the request's filter, masked for ``actor``.

    Needs ``export_customers`` (and ``view_customers``). A filter on a PII attribute by an
    actor without Personal data is refused before anything is counted. The audit event
    records the column and filter attribute names, the event types and the row count,
    never a value; an actor shown PII columns gets one personal-data access-log entry.
    """
    actor.require(Perm.EXPORT_CUSTOMERS)
    masker = Masker.for_principal(actor)
    matching = customers_matching(actor, request.customer_filter, masker=masker)
    columns = column_plan(actor.project, masker, request.fields)
    names = [c.field.name for c in columns if c.field.kind is not FieldKind.INTERNAL_ID]
    row_count = matching.count()
    audit_record(
        actor=actor,
        action="customers.export",
        target_type="project",
        target_id=actor.project.pk,
        details={
            "via": via.value,
            "format": request.format.value,
            "columns": names,
            "filter_attributes": list(request.customer_filter.attribute_names),
            "filter_event_types": list(request.customer_filter.event_types),
            "row_count": row_count,
            "personal_data": masker.can_see_personal_data,
        },
    )
    channel, view = _ACCESS_LOG[via]
    access_record_export(
        actor=actor,
        masker=masker,
        channel=channel,
        view=view,
        columns=names,
        matching=matching,
        row_count=row_count,
        customer_filter=request.customer_filter,
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    extension = "csv" if request.format is ExportFormat.CSV else "json"
    return CustomerExport(
        filename=f"customers-{stamp}.{extension}",
        content_type=_CONTENT_TYPES[request.format],
        row_count=row_count,
        columns=columns,
        blocks=_stream(
            matching,
            columns,
            request.format,
            actor.project.pk,
            chunk_size or EXPORT_CHUNK_SIZE,
            narrowed=not request.customer_filter.is_empty,
        ),
    )


# The envelope -----------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    """``value`` as PostgreSQL prints the jsonb (keys shorter first, then by bytes)."""
    return json.dumps(_jsonb_order(value, 0), ensure_ascii=False)


# Deeper values are left in stored order (tracking refuses them; rows from before may not).
_ORDER_DEPTH = 32


def _jsonb_order(value: Any, depth: int) -> Any:
    if depth > _ORDER_DEPTH:
        return value
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return {k: _jsonb_order(value[k], depth + 1) for k in keys}
    if isinstance(value, list):
        return [_jsonb_order(v, depth + 1) for v in value]
    return value


def _csv_field(text: str | None) -> str:
    """One CSV field as PostgreSQL's COPY writes it: NULL empty, an empty string quoted."""
    if text is None:
        return ""
    if text == "" or any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _header(columns: Sequence[ExportColumn], export_format: ExportFormat) -> bytes:
    if export_format is ExportFormat.CSV:
        line = ",".join(_csv_field(csv_safe(c.field.name)) for c in columns) + "\n"
        return line.encode()
    if export_format is ExportFormat.TABLE_JSON:
        head = json.dumps([c.field.name for c in columns], ensure_ascii=False)
        return ('{"success": true, "header": ' + head + ', "rows": [').encode()
    fields = [
        {"type": c.field.kind.value}
        if c.field.kind is FieldKind.INTERNAL_ID
        else {"type": c.field.kind.value, c.field.kind.value: c.field.name}
        for c in columns
    ]
    return (
        '{"success": true, "fields": ' + json.dumps(fields, ensure_ascii=False) + ', "data": ['
    ).encode()


def _stream(
    matching: QuerySet[Customer],
    columns: tuple[ExportColumn, ...],
    export_format: ExportFormat,
    project_id: int,
    chunk_size: int,
    *,
    narrowed: bool,
) -> Iterator[bytes]:
    yield _header(columns, export_format)
    with replica_reads():
        alias = read_alias()
    if connections[alias].vendor == "postgresql" and columns:
        lines = _pg_lines(
            matching, columns, export_format, project_id, narrowed=narrowed, alias=alias
        )
    else:
        lines = _python_lines(matching, columns, export_format, project_id, chunk_size)
    if export_format is ExportFormat.CSV:
        yield from lines
        return
    first = True
    for body in lines:  # JSON rows joined by commas: the lines become the array's elements
        yield body if first else b"," + body
        first = False
    yield b"]}"


def _blocks(rows: Iterable[Any]) -> Iterator[bytes]:
    """Rows (bytes-like, each ending in a newline) joined :data:`ROWS_PER_BLOCK` at a time
    (``islice`` batches: no Python bytecode per row)."""
    iterator = iter(rows)
    while batch := list(islice(iterator, ROWS_PER_BLOCK)):
        yield b"".join(batch)


# PostgreSQL: COPY (SELECT ...), with the SQL pieces of .export_sql -------------------------


def copy_statement(
    matching: QuerySet[Customer],
    columns: Sequence[ExportColumn],
    export_format: ExportFormat,
    project_id: int,
    *,
    narrowed: bool,
    alias: str = "default",
) -> tuple[str, list[Any]]:
    """The ``COPY (SELECT ...) TO STDOUT`` of an export and its parameters.

    Names are parameters, never SQL text. The filter is the queryset's own SQL; each
    property is read once in it (``c.pN``). IDs come from one grouped pass over the
    matching customers' IDs (per ID name an aggregate with ``FILTER``), merged on the
    customer id. A JSON row is its cells' JSON texts as COPY columns separated by a byte
    no JSON text holds (:data:`COPY_JSON`); :func:`~.export_copy.json_body` turns them into
    ``[a, b]`` (no string function per row in SQL).
    """
    as_json = export_format is not ExportFormat.CSV
    filter_sql, filter_params = (
        matching.order_by().values("pk", "properties").query.get_compiler(using=alias).as_sql()
    )
    # A masked cell is a constant: the mask as CSV text, or as JSON text (a string).
    mask = sql_literal(json.dumps(MASK) if as_json else MASK)
    null = "'null'" if as_json else "NULL"
    reads: list[str] = []  # property reads inside the filtered subquery
    read_params: list[Any] = []
    cells: list[str] = []
    id_aggregates: list[str] = []
    id_params: list[Any] = []
    for n, column in enumerate(columns):
        field = column.field
        if field.kind is FieldKind.INTERNAL_ID:
            cells.append("c.id::text" if as_json else "c.id")
        elif field.kind is FieldKind.PROPERTY:
            operator = "->" if as_json and not column.hidden else "->>"
            reads.append(f"f.properties {operator} %s AS p{n}")
            read_params.append(field.name)
            if column.hidden:
                # The value is only tested for presence; what leaves is the mask.
                cells.append(f"(CASE WHEN c.p{n} IS NULL THEN {null} ELSE {mask} END)")
            elif as_json:
                cells.append(f"COALESCE(c.p{n}::text, 'null')")
            else:
                cells.append(guard_sql(f"c.p{n}"))
        else:
            if column.hidden:
                # Only whether a value exists: a masked ID's values are never aggregated.
                shown = mask if column.hard else MASKED_LIST_SQL
                id_aggregates.append(f"(CASE WHEN bool_or(i.name = %s) THEN {shown} END) AS i{n}")
            else:
                # The values in id order (the subquery's order, see below); a hard ID
                # shows its first. JSON text for JSON, the value itself for CSV.
                values = "json_agg(i.value) FILTER (WHERE i.name = %s)"
                if column.hard:
                    values = f"({values}) {'->' if as_json else '->>'} 0"
                id_aggregates.append(f"{values} AS i{n}")
            id_params.append(field.name)
            if as_json:
                cells.append(f"COALESCE(ids.i{n}::text, 'null')")
            elif column.hidden:
                cells.append(f"ids.i{n}")
            elif column.hard:
                cells.append(guard_sql(f"ids.i{n}"))
            else:
                cells.append(f"ids.i{n}::text")
    select = ", ".join(cells)
    read_list = "".join(f", {r}" for r in reads)
    # Only constants and Django's compiled filter become SQL text; every name is a parameter.
    # ORDER BY ... OFFSET 0 keeps the subquery whole, so each property is read (its jsonb
    # detoasted) once per row, not once per use in the guard; still in index order.
    sql = (
        f"SELECT {select} FROM (SELECT f.pk AS id{read_list} FROM ({filter_sql}) f"  # noqa: S608
        " ORDER BY f.pk OFFSET 0) c"
    )
    params = [*read_params, *filter_params]
    if id_aggregates:
        names = sorted({c.field.name for c in columns if c.field.kind is FieldKind.ID})
        restrict = ""
        if narrowed:
            inner_sql, inner_params = (
                matching.order_by().values("pk").query.get_compiler(using=alias).as_sql()
            )
            restrict = f" AND customer_id IN ({inner_sql})"
            params_tail = list(inner_params)
        else:
            params_tail = []
        # The IDs reach the aggregates in (customer, id) order from a sorted subquery that
        # PostgreSQL does not flatten: one incremental sort on the customer index instead of
        # a sort per customer for `json_agg(... ORDER BY id)` (PostgreSQL 15 sorts each
        # group; a fifth of the admin export's database time). The aggregation has no join
        # at its level and json_agg has no combine function, so no plan (parallel partial
        # aggregation included) can reorder the values (tests pin the order).
        # Only shown values need that order; masked IDs are a bool_or, in any order.
        ordered = any(c.field.kind is FieldKind.ID and not c.hidden for c in columns)
        order = " ORDER BY customer_id, id" if ordered else ""
        # Every ID column masked: only (customer, name) is read, an index-only scan of
        # customer_id_by_customer, so no project condition (it would fetch each ID row from
        # the table: a third of the pass's database CPU). The rows are the same: an ID's
        # project is its customer's (created in it, merges stay in it), and the join keeps
        # this project's matching customers only.
        scope = "project_id = %s AND " if ordered else ""
        sql += (
            f" LEFT JOIN (SELECT i.customer_id, {', '.join(id_aggregates)}"  # noqa: S608
            " FROM (SELECT customer_id, name, value FROM customers_customerid"
            f" WHERE {scope}name = ANY(%s){restrict}{order}) i"
            " GROUP BY i.customer_id) ids ON ids.customer_id = c.id"
        )
        params += [*id_params, *([project_id] if ordered else []), names, *params_tail]
    sql += " ORDER BY c.id"
    options = COPY_JSON if as_json else COPY_CSV
    return f"COPY ({sql}) TO STDOUT WITH ({options})", params


def _pg_lines(
    matching: QuerySet[Customer],
    columns: tuple[ExportColumn, ...],
    export_format: ExportFormat,
    project_id: int,
    *,
    narrowed: bool,
    alias: str,
) -> Iterator[bytes]:
    sql, params = copy_statement(
        matching, columns, export_format, project_id, narrowed=narrowed, alias=alias
    )
    connection = connections[alias]
    connection.ensure_connection()
    with connection.cursor() as cursor:
        blocks = copy_blocks(cursor.cursor, sql, params, ROWS_PER_BLOCK)
        if export_format is ExportFormat.CSV:
            yield from blocks
        else:
            yield from map(json_body, blocks)


# SQLite (and any other database): the same bytes from a Python loop ------------------------


def _python_lines(
    matching: QuerySet[Customer],
    columns: tuple[ExportColumn, ...],
    export_format: ExportFormat,
    project_id: int,
    chunk_size: int,
) -> Iterator[bytes]:
    as_json = export_format is not ExportFormat.CSV
    render = _json_line if as_json else _csv_line
    blocks = _blocks(
        render(row, columns) for row in _python_rows(matching, columns, project_id, chunk_size)
    )
    if not as_json:
        return blocks
    # One JSON row per line: the lines become the array's comma-separated elements.
    return (block[:-1].replace(b"\n", b",") for block in blocks)


def _python_rows(
    matching: QuerySet[Customer],
    columns: tuple[ExportColumn, ...],
    project_id: int,
    chunk_size: int,
) -> Iterator[list[Any]]:
    """Rows of JSON values in customer id order, a keyset chunk at a time."""
    wants_ids = any(c.field.kind is FieldKind.ID for c in columns)
    last = 0
    while True:
        with replica_reads():
            chunk = list(
                matching.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "properties")[:chunk_size]
            )
            if not chunk:
                return
            pks = [pk for pk, _ in chunk]
            ids = ids_of_customer_chunk(project_id, pks) if wants_ids else {}
        last = chunk[-1][0]
        for pk, properties in chunk:
            yield [_value(c, pk, properties, ids.get(pk, {})) for c in columns]


def _value(column: ExportColumn, pk: int, properties: Any, ids: dict[str, list[str]]) -> Any:
    field = column.field
    if field.kind is FieldKind.INTERNAL_ID:
        return pk
    if field.kind is FieldKind.PROPERTY:
        value = properties.get(field.name)
    else:
        values = ids.get(field.name)
        value = (values[0] if column.hard else list(values)) if values else None
    if value is None:
        return None
    if not column.hidden:
        return value
    return [MASK] if field.kind is FieldKind.ID and not column.hard else MASK


def _json_line(row: list[Any], columns: Sequence[ExportColumn]) -> bytes:
    return (_json_text(row) + "\n").encode()


def _csv_line(row: list[Any], columns: Sequence[ExportColumn]) -> bytes:
    cells = []
    for value, column in zip(row, columns, strict=True):
        if value is None:
            cells.append("")
        elif column.field.kind is FieldKind.INTERNAL_ID:
            cells.append(str(value))
        else:
            text = value if isinstance(value, str) else _json_text(value)
            cells.append(_csv_field(csv_safe(text)))
    return (",".join(cells) + "\n").encode()


__all__ = [
    "ROWS_PER_BLOCK",
    "CustomerExport",
    "ExportColumn",
    "ExportField",
    "ExportFormat",
    "ExportRequest",
    "ExportVia",
    "FieldKind",
    "column_plan",
    "copy_statement",
    "customers_export",
    "export_fields_all",
]
