"""The SQL text pieces of the export engine's PostgreSQL path (``COPY (SELECT ...)``):
constants as SQL literals, the mask of a soft ID, the CSV formula guard, the
COPY options. Pure string functions; the column plan deciding what is masked stays in
:mod:`.export_engine` (the Masker's decisions)."""

from __future__ import annotations

import json

from datamanager.masking import MASK

from ..presenters import FORMULA_PREFIXES, PLAIN_NUMBER_PATTERN

# CSV format with a quote and delimiter that never occur in JSON text (PostgreSQL escapes
# every control character), so no JSON cell is ever quoted: a JSON row comes out as its
# cells' texts separated by \x02, which .export_copy.json_body turns into ", ".
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
