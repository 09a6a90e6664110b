"""Exponea's anonymize and anonymize_bulk endpoints, plus the bulk status (beyond Exponea).

Thin: validate the shape, call the anonymization service, answer in Exponea's shape. The
status never echoes an ID value: entries that named no customer are listed by position.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.errors import InvalidInput, NotFound
from access.permissions import Perm

from ..models import AnonymizationJob
from ..selectors import id_names
from ..services.anonymization import customer_anonymize_one
from ..services.anonymization_bulk import bulk_anonymization_start, bulk_selection_by_ids
from ..validation import clean_ids
from . import anonymize_serializers as s

TAG = ["Anonymization"]


def _validated(serializer_class: type, request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidInput("The body must be a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class AnonymizationAPIView(ProjectAPIView):
    required_permission = Perm.ANONYMIZE_CUSTOMERS


class AnonymizeView(AnonymizationAPIView):
    @extend_schema(
        tags=TAG,
        operation_id="customer_anonymize",
        summary="Anonymize one customer",
        description=(
            "Synchronous. Removes PII properties, all IDs (a new random cookie is assigned) "
            "and PII event attributes; tracks one `anonymization` event. An already "
            "anonymized customer is left as it is."
        ),
        request=s.AnonymizeRequest,
        responses={200: s.SuccessResponse, **error_responses(400, 403, 413, 415)},
    )
    def post(self, request: Request, token: str) -> Response:
        data = _validated(s.AnonymizeRequest, request)
        project = self.principal.project
        ids = clean_ids(data["customer_ids"], known=id_names(project))
        # Locks the customer, re-reads the IDs; merged away meanwhile: followed; gone: 404.
        customer_anonymize_one(actor=self.principal, ids=ids, source="api")
        return Response({"success": True})


class AnonymizeBulkView(AnonymizationAPIView):
    @extend_schema(
        tags=TAG,
        operation_id="customers_anonymize_bulk",
        summary="Anonymize customers in bulk",
        description=(
            "Answers at once with a `bulk_id`; a background job does the work. The IDs are "
            "resolved to internal ids now and never stored. Poll "
            "`anonymize_bulk/{bulk_id}` for the status."
        ),
        request=s.AnonymizeBulkRequest,
        responses={200: s.AnonymizeBulkResponse, **error_responses(400, 403, 413, 415)},
    )
    def post(self, request: Request, token: str) -> Response:
        data = _validated(s.AnonymizeBulkRequest, request)
        selection = bulk_selection_by_ids(self.principal, data["customers"])
        job = bulk_anonymization_start(
            actor=self.principal,
            selection=selection,
            source=AnonymizationJob.Source.BULK_API,
            request=[list(selection.customers), list(selection.not_found)],
        )
        return Response({"success": True, "bulk_id": str(job.public_id)})


class AnonymizeBulkStatusView(AnonymizationAPIView):
    @extend_schema(
        tags=TAG,
        operation_id="customers_anonymize_bulk_status",
        summary="Status of a bulk anonymization",
        responses={200: s.AnonymizeBulkStatus, **error_responses()},
    )
    def get(self, request: Request, token: str, bulk_id: str) -> Response:
        try:
            public_id = uuid.UUID(bulk_id)
        except ValueError as exc:
            raise NotFound("Bulk anonymization not found.") from exc
        job = AnonymizationJob.objects.filter(
            project=self.principal.project, public_id=public_id
        ).first()
        if job is None:
            raise NotFound("Bulk anonymization not found.")
        return Response(
            {
                "success": True,
                "bulk_id": str(job.public_id),
                "status": job.status,
                "total": job.total,
                "done": job.done,
                "not_found": job.not_found,
                "created_at": _epoch(job.created_at),
                "started_at": _epoch(job.started_at),
                "finished_at": _epoch(job.finished_at),
                "error": job.error,
            }
        )
