"""Small template helpers for the access management pages."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django import template

register = template.Library()


@register.filter
def has_perm(perms: Collection[str], code: str) -> bool:
    """``{% if role_perms|has_perm:"manage_access" %}``: membership in a set of permissions."""
    return code in perms


@register.filter
def audit_value(value: Any) -> str:
    """An audit detail value for display: lists joined, empty values as a dash."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "-"
    if value is None or value == "":
        return "-"
    return str(value)
