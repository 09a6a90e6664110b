"""The SQL that anonymization needs and the ORM cannot say: the only vendor-specific code of
anonymization (PostgreSQL and SQLite), each piece a function or expression of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Func, JSONField, Model, Q

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
    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(columns.values())} FROM {Customer._meta.db_table} "
        f"WHERE id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*prepared, *pks])
