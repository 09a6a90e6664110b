"""The index-friendly SQL of a property condition (issue 14 item 3): one function,
:func:`indexed_property_q`, called first by ``sql._property_q``.

On PostgreSQL:

- ``equals`` on a string or date property is written as ``properties @> '{"name":
  "value"}'``, which the GIN ``jsonb_path_ops`` index on every customer's properties
  answers (migration ``customers/0006``): equality on *any* property, flagged or not.
  It selects exactly the typed comparison's rows (a JSON string byte-equal to the value;
  the index is lossy, PostgreSQL rechecks each row). It *replaces* the typed comparison
  rather than joining it: the planner multiplies two conditions' estimates, and for a
  common value (``last_name equals Novak``, 50 k customers) the product fell under the
  list's exact-count limit, so every page counted 50 k rows (150 ms CPU); alone, the
  containment's estimate comes from the column's statistics and is right. Not for the
  properties with a B-tree expression index of their own (:data:`EXPRESSION_INDEXED`),
  whose index serves equality together with the list's order by id.
- ``contains`` and ``starts with`` on a string property are written on
  :func:`search_expression_sql`, the very expression the trigram index of a property
  marked searchable is built on (``datamanager/search_indexes.py``), so the planner uses
  that index when the property has one; without, it is the same scan as before.

SQLite (and any other database) takes the plain path: ``None``, and ``_property_q``
writes the condition as it always has.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, Func, Q

from .values import Operator, ValueType

# Properties with a B-tree expression index of their own (customers/0002_pg_customer_
# filter_indexes.PROPERTY_INDEXES; tests/customers/test_filter_indexes.py checks the two
# agree).
EXPRESSION_INDEXED = frozenset({"plan", "city", "country", "lifetime_value"})


def search_expression_sql(column: str, key_sql: str) -> str:
    """The upper-cased text of ``column[key]`` when it is a JSON string, else NULL: what a
    searchable property's trigram index holds and what "contains" / "starts with"
    compare. ``key_sql`` is the key as a SQL literal or a ``%s`` placeholder."""
    return (
        f"UPPER(CASE WHEN jsonb_typeof({column} -> {key_sql}) = 'string' "
        f"THEN ({column} ->> {key_sql}) END)"
    )


def like_escape(value: str) -> str:
    """``value`` as a literal part of a LIKE pattern (backslash is LIKE's escape)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _JsonContains(Func):
    """``properties @> '{key: value}'::jsonb`` (PostgreSQL only)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, key: str, value: Any) -> None:
        super().__init__(F("properties"))
        self.document = json.dumps({key: value}, ensure_ascii=False)

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        return f"({column} @> %s::jsonb)", (*params, self.document)


class _TextLike(Func):
    """``search_expression_sql(properties, key) LIKE UPPER(pattern)`` (PostgreSQL only)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, key: str, pattern: str) -> None:
        super().__init__(F("properties"))
        self.key = key
        self.pattern = pattern

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        sql = f"({search_expression_sql(column, '%s')} LIKE UPPER(%s))"
        return sql, (*params, self.key, *params, self.key, self.pattern)


def indexed_property_q(
    name: str, operator: Operator, value_type: ValueType, value: Any
) -> Q | None:
    """The condition ``name operator value`` in SQL an index can answer, or ``None`` for
    the plain path; ``value`` is already converted to ``value_type``."""
    if connection.vendor != "postgresql":
        return None
    if value_type not in (ValueType.STRING, ValueType.DATE):
        return None
    if operator is Operator.EQUALS and name not in EXPRESSION_INDEXED:
        return Q(_JsonContains(name, value))
    if operator is Operator.CONTAINS and value_type is ValueType.STRING:
        return Q(_TextLike(name, f"%{like_escape(value)}%"))
    if operator is Operator.STARTS_WITH and value_type is ValueType.STRING:
        return Q(_TextLike(name, f"{like_escape(value)}%"))
    return None
