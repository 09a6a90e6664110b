"""The SQL text pieces of the export engine's PostgreSQL path (``COPY (SELECT ...)``):
constants as SQL literals, the mask of a soft ID, the CSV formula guard, JSON rows by
concatenation. Pure string functions; the column plan deciding what is masked stays in
:mod:`.export_engine` (the Masker's decisions)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from datamanager.masking import MASK

from ..presenters import FORMULA_PREFIXES, PLAIN_NUMBER_PATTERN

# CSV format with a quote and delimiter that never occur in JSON text (PostgreSQL escapes
# every control character), so each JSON row comes out verbatim as one line.
COPY_CSV = "FORMAT csv"
COPY_JSON = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"


def sql_literal(text: str) -> str:
    """A constant of ours as SQL text (control characters as ``chr(n)``)."""
    if len(text) == 1 and ord(text) < 32:
        return f"chr({ord(text)})"
    return "'" + text.replace("'", "''") + "'"


# A masked soft ID keeps its shape, a list, with one mask whatever the number of values (the
# same text in a CSV cell and in JSON).
MASKED_LIST_SQL = sql_literal(json.dumps([MASK]))
# By code point: ``ascii(text)`` is an integer compare, ``left(text, 1) IN (...)`` a collated
# text compare per cell (a quarter of the admin export's database time).
_GUARD_PREFIXES = ", ".join(str(ord(p)) for p in FORMULA_PREFIXES)
_GUARD_NUMBER = sql_literal(PLAIN_NUMBER_PATTERN)


def guard_sql(expr: str) -> str:
    """:func:`~customers.presenters.csv_safe` in SQL (the same prefixes and number pattern)."""
    return (
        f"(CASE WHEN ascii({expr}) IN ({_GUARD_PREFIXES}) AND {expr} !~ {_GUARD_NUMBER} "
        f"THEN '''' || {expr} ELSE {expr} END)"
    )


def json_row_sql(cells: Sequence[str]) -> str:
    """``[c1, c2, ...]`` as text from cells that are each a JSON text, never NULL.

    Concatenation costs a third less database CPU than ``json_build_array(...)::text``
    (which looks up every argument's type and output function per row) and gives the same
    bytes. The ``||`` are nested as a balanced tree: a chain of 2,000 would nest as deep.
    """
    parts = ["'['", *_interleave(cells, "', '"), "']'"]
    return _concat_tree(parts)


def _interleave(items: Sequence[str], separator: str) -> list[str]:
    out: list[str] = []
    for n, item in enumerate(items):
        if n:
            out.append(separator)
        out.append(item)
    return out


def _concat_tree(parts: Sequence[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    return f"({_concat_tree(parts[:middle])} || {_concat_tree(parts[middle:])})"
