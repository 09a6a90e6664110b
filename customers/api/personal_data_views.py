"""``POST /data/v2/projects/{token}/customers/personal-data-export``: one customer's data.

Our extension (Exponea has no such endpoint): ``{"customer_ids": {"registered": "..."}}``
resolved as ``export-one`` does; answers the personal-data export document as streamed
JSON. Needs ``read_customers``, ``export_customers`` and Personal data on the key.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.errors import InvalidInput
from access.permissions import Perm

from ..services.personal_data_export import json_blocks, personal_data_export
from . import reading
from . import serializers as s
from .tracking_views import body_object


class PersonalDataExportView(ProjectAPIView):
    required_permission = Perm.EXPORT_CUSTOMERS

    @extend_schema(
        tags=["Customers"],
        operation_id="customer_personal_data_export",
        summary="Export one customer's personal data (GDPR access request)",
        description=(
            "Every ID, property (with its type and whether it is PII), event, consent, "
            "access-history entry and the anonymization state of one customer, as one "
            "streamed JSON document. Needs read_customers, export_customers and Personal "
            "data. An extension: Exponea has no such endpoint."
        ),
        request=s.CustomerIdsRequest,
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            **error_responses(400, 403, 413, 415),
        },
    )
    def post(self, request: Request, token: str) -> Any:
        body = body_object(request)
        unknown = sorted(set(body) - {"customer_ids"})
        if unknown:
            raise InvalidInput(f"Unknown key(s): {', '.join(k[:64] for k in unknown[:5])}.")
        # Refuse before the lookup: a lookup by a PII ID value is itself a personal-data read.
        self.principal.require(Perm.VIEW_PERSONAL_DATA)
        customer = reading.customer_find(self.principal, body.get("customer_ids"))
        document = personal_data_export(actor=self.principal, customer_pk=customer.pk, via="api")
        response = StreamingHttpResponse(json_blocks(document), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
        return response
