"""The body of ``POST /data/v2/projects/{token}/customers/export`` as Exponea documents it,
parsed into the export engine's typed input.

Exponea's shapes (``reference/export-all-customers-2``; the SDK's ``get_customers`` sends
``{"format": "native_json"}``)::

    {"format": "csv" | "table_json" | "native_json",
     "attributes": {"type": "some", "list": [{"type": "id", "id": "registered"},
                                             {"type": "property", "property": "plan"}]}
                 | {"type": "properties_and_ids"},
     "filter": {"type": "all"},
     "execution_time": 1700000000, "timezone": "Europe/Prague"}

Extensions (documented in docs/api-compatibility.md): ``format`` may be left out
(``native_json``, what the SDK sends); ``attributes`` may be left out (``properties_and_ids``)
or be a bare list / ``{"type": "list", "list": [...]}`` (this API's earlier shape); ``filter``
may be our own customer filter object (``{"conditions": [...], "events": [...]}``, see
docs/customer-filter.md). Every unknown key is a 400 naming it; names of attributes are
checked against the catalog by the engine, which does not echo them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from access.errors import InvalidInput, NotFound
from access.models import Project
from segments.models import Segment

from ..filters import CustomerFilter
from ..services.export_engine import ExportField, ExportFormat, ExportRequest, export_fields_all
from ..validation import clean_name, clean_timestamp, storable
from . import reading

BODY_KEYS = frozenset({"format", "attributes", "filter", "execution_time", "timezone"})
FORMATS = {f.value: f for f in ExportFormat}
# A clock a little ahead of ours is not a request for the future.
EXECUTION_TIME_SLACK_SECONDS = 60.0


@dataclass(frozen=True)
class ParsedExport:
    """The engine's request plus the documented options it does not need to see."""

    request: ExportRequest
    execution_time: float | None
    timezone: str | None


def _refuse_unknown(obj: dict[Any, Any], known: frozenset[str], *, where: str) -> None:
    unknown = sorted(str(k)[:40] for k in obj if k not in known)
    if unknown:
        raise InvalidInput(f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}.")


def parse_format(raw: Any) -> ExportFormat:
    if raw is None:
        return ExportFormat.NATIVE_JSON
    if not isinstance(raw, str) or raw not in FORMATS:
        raise InvalidInput("format must be one of: csv, table_json, native_json.")
    return FORMATS[raw]


def _parse_field(position: int, item: Any, where: str) -> ExportField:
    at = f"{where}[{position}]"
    if not isinstance(item, dict):
        raise InvalidInput(f"{at} must be an object {{type, id|property}}.")
    kind = item.get("type")
    if kind == "id":
        _refuse_unknown(item, frozenset({"type", "id"}), where=at)
        return ExportField.for_id(clean_name(item.get("id"), what=f"{at}.id"))
    if kind == "property":
        _refuse_unknown(item, frozenset({"type", "property"}), where=at)
        return ExportField.for_property(clean_name(item.get("property"), what=f"{at}.property"))
    raise InvalidInput(f"{at}.type must be 'id' or 'property'.")


def parse_attributes(raw: Any, project: Project) -> tuple[ExportField, ...]:
    """The columns, in the order asked for."""
    if raw is None:
        return export_fields_all(project)
    where = "attributes"
    if isinstance(raw, dict):
        kind = raw.get("type")
        if kind == "properties_and_ids":
            _refuse_unknown(raw, frozenset({"type"}), where=where)
            return export_fields_all(project)
        if kind not in ("some", "list"):
            raise InvalidInput("attributes.type must be 'some' or 'properties_and_ids'.")
        _refuse_unknown(raw, frozenset({"type", "list"}), where=where)
        raw, where = raw.get("list"), "attributes.list"
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{where} must be a non-empty list of {{type, id|property}}.")
    if len(raw) > reading.MAX_ATTRIBUTES:
        raise InvalidInput(f"At most {reading.MAX_ATTRIBUTES} attributes per export.")
    return tuple(_parse_field(position, item, where) for position, item in enumerate(raw, 1))


def parse_filter(raw: Any, project: Any) -> CustomerFilter:
    """Exponea's ``{"type": "all"}`` or ``{"type": "segment", "segmentation_id": ...}`` (a
    saved segment of the project, segments/), or our own filter object (an extension).

    A segment's filter is checked like any other afterwards: a PII condition is refused
    to a key without Personal data, whoever saved the segment.
    """
    if isinstance(raw, dict) and "type" in raw:
        kind = raw.get("type")
        if kind == "all":
            _refuse_unknown(raw, frozenset({"type"}), where="filter")
            return CustomerFilter()
        if kind == "segment":
            _refuse_unknown(
                raw, frozenset({"type", "segmentation_id", "segment_index"}), where="filter"
            )
            # Exponea's segmentation has several segments; a saved segment here is one.
            if raw.get("segment_index", 0) not in (0, None):
                raise InvalidInput(
                    "filter.segment_index must be 0: a saved segment is one segment."
                )
            return _segment_filter(raw.get("segmentation_id"), project)
        raise InvalidInput(
            "filter.type must be 'all' or 'segment' (or send a customer filter object)."
        )
    if not storable(raw):
        raise InvalidInput("filter contains a NUL character or invalid Unicode.")
    return CustomerFilter.from_api(raw)


def _segment_filter(segmentation_id: Any, project: Any) -> CustomerFilter:
    try:
        key = uuid.UUID(str(segmentation_id))
    except ValueError:
        raise InvalidInput(
            "filter.segmentation_id must be the id of a saved segment (see the Segments page)."
        ) from None
    segment = Segment.objects.filter(project=project, public_id=key).first()
    if segment is None:
        raise NotFound("Segment not found.")
    return CustomerFilter.from_api(segment.definition)


def parse_execution_time(raw: Any) -> float | None:
    """The moment the export is computed for; only the present (or the past) exists here."""
    ts = clean_timestamp(raw, what="execution_time")
    if ts is not None and ts > time.time() + EXECUTION_TIME_SLACK_SECONDS:
        raise InvalidInput("execution_time is in the future.")
    return ts


def parse_timezone(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw or len(raw) > 64 or not raw.isascii():
        raise InvalidInput("timezone must be an IANA time zone name such as Europe/Prague.")
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            "timezone must be an IANA time zone name such as Europe/Prague."
        ) from exc
    return raw


def parse_export_body(body: dict[str, Any], project: Project) -> ParsedExport:
    """Everything checked before the engine counts, audits or reads a row."""
    _refuse_unknown(body, BODY_KEYS, where="The export request")
    export_format = parse_format(body.get("format"))
    customer_filter = parse_filter(body.get("filter"), project)
    execution_time = parse_execution_time(body.get("execution_time"))
    timezone = parse_timezone(body.get("timezone"))
    fields = parse_attributes(body.get("attributes"), project)
    return ParsedExport(
        request=ExportRequest(customer_filter=customer_filter, fields=fields, format=export_format),
        execution_time=execution_time,
        timezone=timezone,
    )
