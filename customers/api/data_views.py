"""Exponea's data API for one customer (``read_customers``) and the customer export.

Every value in a response goes through the request's :class:`~datamanager.masking.Masker`:
a key without ``view_personal_data`` gets ``******`` for PII properties, IDs and event
attributes, and may not filter an export by a PII attribute (403 naming it).
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.permissions import Perm
from accountability.models import Channel
from accountability.services import access_record_shown
from datamanager.masking import Masker

from ..services.export_engine import ExportFormat, ExportVia, customers_export
from . import reading
from . import serializers as s
from .export_request import parse_export_body
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


class ExportView(ProjectAPIView):
    required_permission = Perm.EXPORT_CUSTOMERS

    @extend_schema(
        tags=TAG,
        operation_id="customers_export",
        summary="Export customers (streamed)",
        description=(
            "Exponea's export all customers: format csv | table_json | native_json "
            "({success, fields, data}); attributes {type: some, list} or "
            "{type: properties_and_ids}; filter {type: all} or a customer filter object "
            "(an extension); execution_time, timezone. PII columns are masked for a key "
            "without Personal data; filtering by a PII attribute is refused (403). Needs "
            "read_customers and export_customers."
        ),
        request=s.ExportRequest,
        responses={
            (200, "application/json"): s.ExportResponse,
            (200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR),
            **error_responses(*POST_ERRORS),
        },
    )
    def post(self, request: Request, token: str) -> Any:
        parsed = parse_export_body(body_object(request), self.principal.project)
        export = customers_export(actor=self.principal, request=parsed.request, via=ExportVia.API)
        response = StreamingHttpResponse(export.blocks, content_type=export.content_type)
        if parsed.request.format is ExportFormat.CSV:
            response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response
