"""Infer an Exponea attribute type from the first value tracked for it."""

from __future__ import annotations

import re
from typing import Any

from .models import AttributeType

_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
LONGTEXT_FROM = 256


def infer_type(value: Any) -> AttributeType:
    """The type a newly seen attribute gets in the catalog (admins can change it later)."""
    if isinstance(value, bool):
        return AttributeType.BOOLEAN
    if isinstance(value, int | float):
        return AttributeType.NUMBER
    if isinstance(value, list):
        return AttributeType.LIST
    if isinstance(value, dict):
        return AttributeType.LONGTEXT
    if isinstance(value, str):
        if _URL.match(value):
            return AttributeType.URL
        if _DATE.match(value):
            return AttributeType.DATE
        if _DATETIME.match(value):
            return AttributeType.DATETIME
        if len(value) >= LONGTEXT_FROM:
            return AttributeType.LONGTEXT
    return AttributeType.STRING
