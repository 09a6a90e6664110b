"""Masked, display-ready structures for the customer pages and the CSV export.

Templates never read ``customer.properties``: views hand them these rows, built here with
the :class:`~datamanager.masking.Masker`, which is the only thing that turns a stored value
into output.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.text import Truncator

from datamanager.masking import MASK, Masker, is_masked

from .models import Customer, Event
from .selectors import AttributeInfo

# Spreadsheet programs run cells starting with these as formulas (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A signed number or phone number is left alone. One pattern for Python (``fullmatch``) and
# PostgreSQL (``!~``, where ``$`` is the end of the text), so both guards agree.
PLAIN_NUMBER_PATTERN = r"^[+-]?[0-9][0-9 ().-]*$"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER_PATTERN)


@dataclass(frozen=True)
class Cell:
    """One value as the principal may see it."""

    text: str
    masked: bool = False
    missing: bool = False
    numeric: bool = False
    # How many further values the cell holds (a customer's second and third cookie).
    more: int = 0

    @property
    def short(self) -> str:
        """The text cut for a list cell (the full text goes in its tooltip)."""
        return cut_text(self.text)


MISSING = Cell(text="", missing=True)

# Characters a list cell shows, the ellipsis included.
CELL_CHARS = 48


def cut_text(text: str, length: int = CELL_CHARS) -> str:
    """``text`` as ``|truncatechars:length`` shows it, without its per-cell cost.

    The template filter ran a ``Truncator`` (a Unicode normalization and a translation
    lookup) on every cell, half of the list page's render time (27 -> 14 ms). Short ASCII
    text, nearly every cell, is returned as is and long ASCII text is sliced, which is
    exactly what the filter produced; anything else still goes through ``Truncator``.
    """
    if text.isascii():
        return text if len(text) <= length else text[: length - 1] + "…"
    return Truncator(text).chars(length)


# Nesting shown before a value is cut with "…". Tracking refuses values nested deeper
# than PROPERTY_NESTING_LEVELS, but rows stored before that limit may be deeper; rendering
# must never recurse as deep as the value does (a RecursionError was a 500 page).
DISPLAY_NESTING_LEVELS = 8
_CUT = "…"


def display_text(value: Any) -> str:
    """A stored (already masked) value as text: lists joined, objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    if isinstance(value, list):
        return ", ".join(_json_text(v, 1) if isinstance(v, dict) else _flat(v, 1) for v in value)
    if isinstance(value, dict):
        return _json_text(value, 0)
    return str(value)


def _flat(value: Any, depth: int) -> str:
    if not isinstance(value, list):
        return display_text(value)
    if depth >= DISPLAY_NESTING_LEVELS:
        return _CUT
    return ", ".join(
        _json_text(v, depth + 1) if isinstance(v, dict) else _flat(v, depth + 1) for v in value
    )


def _json_text(value: Any, depth: int) -> str:
    """``json.dumps(value, ensure_ascii=False, sort_keys=True)``, cut below a few levels."""
    if isinstance(value, dict):
        if depth >= DISPLAY_NESTING_LEVELS:
            return "{" + _CUT + "}"
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        inner = ", ".join(
            f"{json.dumps(str(k), ensure_ascii=False)}: {_json_text(v, depth + 1)}"
            for k, v in items
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        if depth >= DISPLAY_NESTING_LEVELS:
            return "[" + _CUT + "]"
        return "[" + ", ".join(_json_text(v, depth + 1) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _cell(masked_value: Any) -> Cell:
    if masked_value is None:
        return MISSING
    if is_masked(masked_value):
        return Cell(text=MASK, masked=True)
    numeric = isinstance(masked_value, int | float) and not isinstance(masked_value, bool)
    return Cell(text=display_text(masked_value), numeric=numeric)


def customer_cell(masker: Masker, name: str, value: Any) -> Cell:
    return _cell(masker.customer_value(name, value))


def id_cell(masker: Masker, name: str, values: Sequence[str] | None) -> Cell:
    if not values:
        return MISSING
    # A hidden name's values are one marker (the Masker's ID rule): no "+N more" either.
    shown = masker.id_values(name, list(values))
    first = _cell(shown[0])
    return Cell(text=first.text, masked=first.masked, more=len(shown) - 1)


@dataclass(frozen=True)
class Column:
    """A column of the list: an ID name or a property."""

    name: str
    is_id: bool
    type: str
    pii: bool
    # The principal may sort and filter by it (false for PII without Personal data).
    usable: bool


def columns_for(masker: Masker, attributes: Iterable[AttributeInfo]) -> list[Column]:
    return [
        Column(
            name=a.name,
            is_id=a.is_id,
            type=a.type,
            pii=a.pii,
            usable=not masker.hides_customer_attribute(a.name),
        )
        for a in attributes
    ]


@dataclass(frozen=True)
class CustomerRow:
    pk: int
    cells: list[Cell]
    anonymized: bool


def customer_rows(
    masker: Masker,
    customers: Iterable[Customer],
    *,
    id_columns: Sequence[str],
    property_columns: Sequence[str],
    ids: Mapping[int, Mapping[str, list[str]]],
) -> list[CustomerRow]:
    """Rows of the list: the ID columns, then the chosen property columns, all masked."""
    rows = []
    for customer in customers:
        customer_ids = ids.get(customer.pk, {})
        cells = [id_cell(masker, name, customer_ids.get(name)) for name in id_columns]
        cells += [
            customer_cell(masker, name, customer.properties.get(name)) for name in property_columns
        ]
        rows.append(
            CustomerRow(pk=customer.pk, cells=cells, anonymized=customer.anonymized_at is not None)
        )
    return rows


@dataclass(frozen=True)
class ProfileAttribute:
    name: str
    cell: Cell
    pii: bool
    type: str


def profile_ids(
    masker: Masker, ids: Mapping[str, list[str]], catalog: Mapping[str, AttributeInfo]
) -> list[ProfileAttribute]:
    out = []
    for name in sorted(ids):
        info = catalog.get(name)
        for value in masker.id_values(name, ids[name]):
            out.append(
                ProfileAttribute(
                    name=name,
                    cell=_cell(value),
                    pii=bool(info and info.pii),
                    type=info.type if info else "string",
                )
            )
    return out


def profile_attributes(
    masker: Masker, customer: Customer, catalog: Mapping[str, AttributeInfo]
) -> list[ProfileAttribute]:
    """Every property of the customer, sorted by name, each masked per attribute."""
    out = []
    for name in sorted(customer.properties):
        info = catalog.get(name)
        out.append(
            ProfileAttribute(
                name=name,
                cell=customer_cell(masker, name, customer.properties[name]),
                pii=bool(info and info.pii),
                type=info.type if info else "string",
            )
        )
    return out


@dataclass(frozen=True)
class EventItem:
    pk: int
    event_type: str
    timestamp: dt.datetime
    properties: list[tuple[str, Cell]]
    # A short, non-PII teaser for the collapsed line: the first visible, unmasked values.
    teaser: str


def event_items(masker: Masker, events: Iterable[Event]) -> list[EventItem]:
    items = []
    for event in events:
        type_name = event.event_type.name
        masked = masker.event_properties(type_name, event.properties)
        props = [(name, _cell(masked[name])) for name in sorted(masked)]
        teaser_parts = [
            f"{name}: {cell.text}" for name, cell in props if not cell.masked and not cell.missing
        ][:3]
        teaser = " · ".join(teaser_parts)
        items.append(
            EventItem(
                pk=event.pk,
                event_type=type_name,
                timestamp=event.timestamp,
                properties=props,
                teaser=teaser[:160],
            )
        )
    return items


def csv_safe(text: str) -> str:
    """Neutralize a cell a spreadsheet would run as a formula.

    Phone numbers and signed numbers ("+421 900 111 222", "-12.5") are left alone: without
    letters or call syntax they cannot run anything, and mangling them would corrupt data.
    """
    if not text.startswith(FORMULA_PREFIXES) or _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text
