"""The API's JSON parser, with Exponea's message size limit (413 before the body is parsed)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from access.errors import TooLarge
from access.json_input import BODY_NESTING_LEVELS, JsonInputError, loads_bounded


class LimitedJSONParser(JSONParser):
    """Strict JSON, refusing a message of ``EXPONEA_LIMITS["MESSAGE_BYTES"]`` or more, or
    one nested deeper than ``BODY_NESTING_LEVELS`` (400, never a ``RecursionError``)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        max_bytes = int(settings.EXPONEA_LIMITS["MESSAGE_BYTES"])
        too_large = TooLarge(f"The message must be smaller than {max_bytes // 1024} KB.")
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) >= max_bytes:
            raise too_large
        raw = stream.read(max_bytes) if stream is not None else b""
        if len(raw) >= max_bytes:
            raise too_large
        try:
            return loads_bounded(raw.decode("utf-8"), levels=BODY_NESTING_LEVELS)
        except (JsonInputError, UnicodeDecodeError) as exc:
            raise ParseError("Malformed JSON body.") from exc
