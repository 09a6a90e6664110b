"""Exponea's data API for one customer (``read_customers``) and the customer export.

Every value in a response goes through the request's :class:`~datamanager.masking.Masker`:
a key without ``view_personal_data`` gets ``******`` for PII properties, IDs and event
attributes, and may not filter an export by a PII attribute (403 naming it).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.errors import InvalidInput
from access.permissions import Perm
from accountability.models import Channel
from accountability.services import access_record_export, access_record_shown
from datamanager.masking import Masker
from datamanager.models import AttributeKind, CustomerAttribute

from ..filters import CustomerFilter, customers_matching
from ..selectors import id_names, ids_of_customers
from ..services.api_export import customer_export_api_record
from ..validation import clean_name, storable
from . import reading
from . import serializers as s
from .tracking_views import body_object

TAG = ["Customers"]
POST_ERRORS = (400, 403, 413, 415)
EXPORT_CHUNK = 1000


class CustomerReadView(ProjectAPIView):
    required_permission = Perm.VIEW_CUSTOMERS

    def access_record(self, masker: Masker, view: str, customer_pk: int) -> None:
        """The access-log entry for what ``masker`` let through for this one customer."""
        access_record_shown(
            actor=self.principal,
            masker=masker,
            channel=Channel.API,
            view=view,
            customer_ids=[customer_pk],
        )


class ExportOneView(CustomerReadView):
    @extend_schema(
        tags=TAG,
        operation_id="customer_export_one",
        summary="Export one customer",
        request=s.CustomerIdsRequest,
        responses={200: s.ExportOneResponse, **error_responses(*POST_ERRORS)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = body_object(request)
        customer = reading.customer_find(self.principal, body.get("customer_ids"))
        masker = Masker.for_principal(self.principal)
        data = reading.customer_export_one(self.principal, masker, customer)
        self.access_record(masker, "api.export-one", customer.pk)
        return Response(data)


class AttributesView(CustomerReadView):
    @extend_schema(
        tags=TAG,
        operation_id="customer_attributes",
        summary="Customer attributes",
        description=(
            "One result per requested attribute. A PII property or ID is answered masked "
            "(******) for a key without Personal data; unsupported attribute types answer "
            "success=false."
        ),
        request=s.AttributesRequest,
        responses={200: s.AttributesResponse, **error_responses(*POST_ERRORS)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = body_object(request)
        customer = reading.customer_find(self.principal, body.get("customer_ids"))
        masker = Masker.for_principal(self.principal)
        results = reading.customer_attributes(
            self.principal, masker, customer, body.get("attributes")
        )
        self.access_record(masker, "api.attributes", customer.pk)
        return Response({"success": True, "results": results})


class EventsView(CustomerReadView):
    @extend_schema(
        tags=TAG,
        operation_id="customer_events",
        summary="Events of one customer",
        request=s.EventsRequest,
        responses={200: s.EventsResponse, **error_responses(*POST_ERRORS)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = body_object(request)
        customer = reading.customer_find(self.principal, body.get("customer_ids"))
        masker = Masker.for_principal(self.principal)
        data = reading.customer_events(
            self.principal,
            masker,
            customer,
            event_types=body.get("event_types"),
            order=body.get("order"),
            limit_=body.get("limit"),
            skip=body.get("skip"),
        )
        self.access_record(masker, "api.events", customer.pk)
        return Response({"success": True, "data": data})


# Export -----------------------------------------------------------------------------------------

Field = tuple[str, str]  # ("id", name) or ("property", name)


def _default_fields(project_id: int) -> list[Field]:
    """Every ID name (hard ones first), then every customer property, by name."""
    rows = CustomerAttribute.objects.filter(project_id=project_id).values_list(
        "name", "kind", "hard"
    )
    ids = sorted(((not hard, name) for name, kind, hard in rows if kind == AttributeKind.ID))
    props = sorted(name for name, kind, _ in rows if kind != AttributeKind.ID)
    return [("id", name) for _, name in ids] + [("property", name) for name in props]


def _clean_fields(raw: Any, hard: dict[str, bool], project_id: int) -> list[Field] | None:
    """The requested columns; an ID or property the catalog does not know is refused
    before anything is read or audited (the audit holds catalog names only)."""
    if raw is None:
        return None
    if isinstance(raw, dict) and raw.get("type") == "list":
        raw = raw.get("list")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("attributes must be a non-empty list of {type, id|property}.")
    if len(raw) > reading.MAX_ATTRIBUTES:
        raise InvalidInput(f"At most {reading.MAX_ATTRIBUTES} attributes per export.")
    fields: list[Field] = []
    for position, item in enumerate(raw, start=1):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "id":
            name = clean_name(item.get("id"), what=f"attributes[{position}].id")
            if name not in hard:
                raise InvalidInput(f"attributes[{position}]: unknown ID name '{name[:128]}'.")
        elif kind == "property":
            name = clean_name(item.get("property"), what=f"attributes[{position}].property")
        else:
            raise InvalidInput(f"attributes[{position}]: type must be 'id' or 'property'.")
        fields.append((kind, name))
    wanted = {name for kind, name in fields if kind == "property"}
    known = set(
        CustomerAttribute.objects.filter(project_id=project_id, name__in=wanted)
        .exclude(kind=AttributeKind.ID)
        .values_list("name", flat=True)
    )
    for position, (kind, name) in enumerate(fields, start=1):
        if kind == "property" and name not in known:
            # Not echoed: a probe's "column name" may be a value (an e-mail address).
            raise InvalidInput(f"attributes[{position}]: unknown property.")
    return fields


def _rows(
    customers: Any, fields: list[Field], masker: Masker, hard: dict[str, bool]
) -> Iterator[list[Any]]:
    """Masked rows, in customer id order, a chunk at a time (keyset pagination)."""
    last = 0
    wants_ids = any(kind == "id" for kind, _ in fields)
    while True:
        chunk = list(
            customers.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "properties")[:EXPORT_CHUNK]
        )
        if not chunk:
            return
        last = chunk[-1][0]
        ids = ids_of_customers([pk for pk, _ in chunk]) if wants_ids else {}
        for pk, properties in chunk:
            shaped = reading.ids_shaped(ids.get(pk, {}), hard)
            row: list[Any] = []
            for kind, name in fields:
                if kind == "id":
                    value = shaped.get(name)
                    row.append(None if value is None else masker.customer_ids({name: value})[name])
                else:
                    row.append(masker.customer_value(name, properties.get(name)))
            yield row


def _json_stream(fields: list[Field], rows: Iterator[list[Any]]) -> Iterator[str]:
    header = [{"type": kind, kind: name} for kind, name in fields]
    yield '{"success": true, "fields": ' + json.dumps(header) + ', "data": ['
    first = True
    for row in rows:
        yield ("" if first else ",") + json.dumps(row)
        first = False
    yield "]}"


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _csv_stream(fields: list[Field], rows: Iterator[list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([name for _, name in fields])
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_cell(v) for v in row])
        if count % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class ExportView(ProjectAPIView):
    required_permission = Perm.EXPORT_CUSTOMERS

    @extend_schema(
        tags=TAG,
        operation_id="customers_export",
        summary="Export customers (streamed)",
        description=(
            "native_json: {success, fields, data}; csv: a header row of attribute names. "
            "PII columns are masked for a key without Personal data; filtering by a PII "
            "attribute is refused (403). Needs read_customers and export_customers."
        ),
        request=s.ExportRequest,
        responses={
            (200, "application/json"): s.ExportResponse,
            (200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR),
            **error_responses(*POST_ERRORS),
        },
    )
    def post(self, request: Request, token: str) -> Any:
        body = body_object(request)
        export_format = body.get("format", "native_json")
        if export_format not in ("native_json", "csv"):
            raise InvalidInput("format must be 'native_json' or 'csv'.")
        principal = self.principal
        hard = id_names(principal.project)
        fields = _clean_fields(
            body.get("attributes"), hard, principal.project.pk
        ) or _default_fields(principal.project.pk)
        raw_filter = body.get("filter")
        if not storable(raw_filter):
            raise InvalidInput("filter contains a NUL character or invalid Unicode.")
        customer_filter = CustomerFilter.from_api(raw_filter)
        masker = Masker.for_principal(principal)
        customers = customers_matching(principal, customer_filter, masker=masker)
        customer_export_api_record(
            actor=principal,
            export_format=export_format,
            columns=[name for _, name in fields],
            customer_filter=customer_filter,
        )
        if masker.revealable_customer_attributes(name for _, name in fields):
            access_record_export(
                actor=principal,
                masker=masker,
                channel=Channel.API,
                view="api.export",
                columns=[name for _, name in fields],
                matching=customers,
                row_count=customers.count(),
                customer_filter=customer_filter,
            )
        rows = _rows(customers, fields, masker, hard)
        if export_format == "csv":
            response = StreamingHttpResponse(
                _csv_stream(fields, rows), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = 'attachment; filename="customers.csv"'
        else:
            response = StreamingHttpResponse(
                _json_stream(fields, rows), content_type="application/json"
            )
        return response
