"""The SQL that anonymization needs and the ORM cannot say: the only vendor-specific code of
anonymization (PostgreSQL and SQLite), each piece a function or expression of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from django.db import connection
from django.db.models import BooleanField, F, Field, ForeignKey, Func, JSONField, Model, Q

from ..models import Customer


class JsonWithoutKeys(Func):
    """``expression`` (a JSON object column) without the given top-level keys.

    PostgreSQL: ``jsonb - text[]`` (keys as parameters, matched as decoded text).
    SQLite: ``json_remove(col, '$."k"', ...)`` only for keys a JSON path matches there
    (:func:`sqlite_path_matches`); SQLite compares a path label with the key as *stored*,
    and Django stores ``příjmení`` as ``"p\\u0159\\u00edjmen\\u00ed"`` and ``a\\b`` as
    ``"a\\\\b"``, so such a path silently matched nothing and left the PII in place. For
    any other key the object is rebuilt from ``json_each``, whose ``key`` is the decoded
    name, without those keys (same result, slower, SQLite only).
    """

    output_field = JSONField()

    def __init__(self, expression: Any, keys: Iterable[str]) -> None:
        self.keys = sorted(set(keys))
        super().__init__(expression)

    def _column(self, compiler: Any) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return sql, tuple(params)

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = self._column(compiler)
        if not self.keys:
            return sql, params
        return f"({sql} - %s::text[])", (*params, self.keys)

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = self._column(compiler)
        if not self.keys:
            return sql, params
        if not all(sqlite_path_matches(key) for key in self.keys):
            marks = ", ".join(["%s"] * len(self.keys))
            # Only placeholders and the compiled column are interpolated; keys are params.
            rebuilt = (
                "(SELECT json_group_object(key, CASE type WHEN 'true' THEN json('true') "  # noqa: S608
                "WHEN 'false' THEN json('false') WHEN 'null' THEN json('null') ELSE value END) "
                f"FROM json_each({sql}) WHERE key NOT IN ({marks}))"
            )
            return rebuilt, (*params, *self.keys)
        marks = ", ".join(["%s"] * len(self.keys))
        return f"json_remove({sql}, {marks})", (*params, *(f'$."{k}"' for k in self.keys))

    def as_sql(  # type: ignore[override]  # pragma: no cover
        self, compiler: Any, connection: Any, **extra: Any
    ) -> Any:
        raise NotImplementedError(f"JsonWithoutKeys is not implemented for {connection.vendor}.")


class IdIn(Func):
    """``column IN (ids)`` as a filter, with the ids as **one** array parameter on
    PostgreSQL (``= ANY(%s)``); an ``IN`` list elsewhere.

    A chunk's statements each named its 1,000 customers: Django preparing 1,000 ``IN``
    values and psycopg rewriting 1,000 placeholders (a statement too long for its cache)
    cost more than some of the statements themselves.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, ids: Iterable[int]) -> None:
        self.ids = [int(i) for i in ids]
        super().__init__(F(column))

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} = ANY(%s::bigint[])", (*params, self.ids)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        if not self.ids:
            return "1 = 0", ()
        return f"{sql} IN ({', '.join(['%s'] * len(self.ids))})", (*params, *self.ids)


def ids_in_sql(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """:class:`IdIn` for hand-written SQL: ``(condition, params)``."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def sqlite_path_matches(key: str) -> bool:
    """True if SQLite's ``$."key"`` path finds ``key`` as Django's JSONField stores it.

    Django writes JSON with ``ensure_ascii``: a key is stored verbatim only when it is
    printable ASCII without ``"`` and ``\\`` (anything else becomes an escape sequence the
    path would have to spell byte for byte). Inside a quoted label ``.``, ``$``, ``[`` and
    spaces are plain characters.
    """
    return key.isascii() and key.isprintable() and '"' not in key and "\\" not in key


def events_with_any_key(names: Sequence[str]) -> Q:
    """Only rewrite events that hold a PII key (PostgreSQL ``?|``, served by the row itself).

    SQLite gets no guard: its JSON path syntax cannot name every key, and rewriting an
    event without the keys is harmless there.
    """
    if connection.vendor == "postgresql":
        return Q(properties__has_any_keys=list(names))
    return Q()


def random_token_sql() -> str:
    """SQL for 32 random hex characters from the database's strong random source."""
    if connection.vendor == "postgresql":
        return "replace(CAST(gen_random_uuid() AS TEXT), '-', '')"
    if connection.vendor == "sqlite":
        return "lower(hex(randomblob(16)))"
    raise NotImplementedError(f"No random token SQL for {connection.vendor}.")


def insert_per_customer(
    model: type[Model], columns: Mapping[str, str], params: Sequence[Any], pks: Sequence[int]
) -> None:
    """``INSERT INTO model (columns) SELECT <expressions> FROM customer WHERE id IN pks``.

    ``columns`` maps a column to a SQL expression over the customer row (``id``) or
    ``%s``, filled from ``params`` in order, each prepared by the model field as an
    ordinary save would (JSON, datetimes).
    """
    prepared: list[Any] = []
    values = iter(params)
    for column, expression in columns.items():
        if expression == "%s":
            field = cast(Field, model._meta.get_field(column.removesuffix("_id")))
            prepared.append(field.get_db_prep_save(next(values), connection))
    where, where_params = ids_in_sql("id", pks)
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(columns.values())} FROM {Customer._meta.db_table} "
        f"WHERE {where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*prepared, *where_params])


def rows_insert(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_conflicts: bool = False,
    generated: Mapping[str, str] | None = None,
) -> None:
    """Insert plain rows (column attname -> value; every row the same columns).

    PostgreSQL: one ``INSERT ... SELECT FROM jsonb_to_recordset(%s)`` with the rows as one
    JSON parameter. For a chunk's 1,000 receipts ``bulk_create`` built 1,000 model instances
    and a statement of 14,000 placeholders, which took longer than PostgreSQL's insert.
    ``ignore_conflicts``: ``ON CONFLICT DO NOTHING``. ``generated`` maps more columns to a
    PostgreSQL expression per row (``gen_random_uuid()``); elsewhere the model's default
    fills them. Elsewhere: ``bulk_create``. Other columns the rows leave out get the
    database's default (Django defaults are not applied).
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(  # type: ignore[attr-defined]
            [model(**row) for row in rows], ignore_conflicts=ignore_conflicts, batch_size=500
        )
        return
    columns = list(rows[0])
    generated = dict(generated or {})
    types = ", ".join(
        f"{connection.ops.quote_name(c)} {_recordset_type(model, c)}" for c in columns
    )
    quoted = ", ".join(connection.ops.quote_name(c) for c in [*generated, *columns])
    selected = ", ".join([*generated.values(), *(connection.ops.quote_name(c) for c in columns)])
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    sql = (
        f"INSERT INTO {model._meta.db_table} ({quoted}) "  # noqa: S608
        f"SELECT {selected} FROM jsonb_to_recordset(%s::jsonb) AS r({types}){conflict}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(list(rows), default=_json_default)])


def _recordset_type(model: type[Model], column: str) -> str:
    field = cast(Field, model._meta.get_field(column))
    if isinstance(field, ForeignKey):
        field = cast(Field, field.target_field)
    db_type = field.db_type(connection)
    if db_type is None:  # pragma: no cover - every concrete column has a type
        raise NotImplementedError(f"No column type for {model.__name__}.{column}.")
    return db_type


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Cannot store {type(value).__name__} as JSON.")
