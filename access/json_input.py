"""Bounded JSON from outside: parsing and depth checks that never recurse without bound.

Python's ``json`` parses until the interpreter's recursion limit and then raises
``RecursionError`` (a 500, not a 400), and anything that later walks such a value
recursively (validation, rendering) fails the same way. So every JSON that arrives from
outside (request bodies, page cursors, tracked property values) is parsed here and held
to an explicit nesting depth far below Python's.
"""

from __future__ import annotations

import json
from typing import Any

# A tracked property value may nest lists and objects this deep ("[[1]]" is 2 levels).
# Real payloads nest two or three levels (a list of items, each an object); Exponea's own
# documentation shows no deeper shapes.
PROPERTY_NESTING_LEVELS = 32
# A request body wraps property values in a few levels of its own (a batch command's
# ``data.properties``), so the body may nest a little deeper than a value.
BODY_NESTING_LEVELS = PROPERTY_NESTING_LEVELS + 8


class JsonInputError(ValueError):
    """Malformed, non-standard (NaN, Infinity) or too deeply nested JSON."""


def nesting_exceeds(value: Any, levels: int) -> bool:
    """True if ``value`` nests lists / objects more than ``levels`` deep (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= levels:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's json module would accept them.
    raise JsonInputError(f"{name} is not valid JSON")


def loads_bounded(text: str, *, levels: int) -> Any:
    """``json.loads`` that raises :class:`JsonInputError` for anything but strict JSON
    nested at most ``levels`` deep (never ``RecursionError``)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise JsonInputError("JSON nested too deeply") from None
    except ValueError as exc:
        raise JsonInputError("malformed JSON") from exc
    # Cheap test first: with no more brackets than allowed levels, it cannot nest deeper.
    if text.count("[") + text.count("{") > levels and nesting_exceeds(value, levels):
        raise JsonInputError(f"JSON nested more than {levels} levels deep")
    return value
