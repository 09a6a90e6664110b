"""Keyset page links (``?after=`` / ``?before=``): one opaque token holding a sort value and
an internal id, for the customer list (customers/listing.py) and a profile's events
(customers/views.py).

A token is user input: it is decoded with a depth bound (access/json_input.py) and anything
that is not ``[value, id]`` with a whole-number id is :class:`~access.errors.InvalidInput`,
never a 500. What the value may be is the caller's check.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from access.errors import InvalidInput
from access.json_input import loads_bounded


def encode_cursor(value: Any, pk: int) -> str:
    """The token for the row with sort value ``value`` (JSON) and internal id ``pk``."""
    raw = json.dumps([value, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str, *, invalid: str) -> tuple[Any, int]:
    """``(value, pk)`` of a token; :class:`InvalidInput` with the message ``invalid`` else."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        value, pk = loads_bounded(
            base64.urlsafe_b64decode(padded.encode()).decode("utf-8"), levels=1
        )
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput(invalid) from None
    if not isinstance(pk, int) or isinstance(pk, bool):
        raise InvalidInput(invalid)
    return value, pk
