"""``POST /data/v2/projects/{token}/data-manager/ids``: add a project-defined customer ID.

Needs ``manage_data``; the body is checked strictly (an unknown key is a 400 naming it) and
handed to :func:`datamanager.ids.customer_id_create`, the same service as the page and the
command line (audited, all or nothing).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.permissions import Perm

from ..ids import CustomerIdInvalid, customer_id_create, customer_id_out
from . import serializers as s

FIELDS = ("name", "hard", "pii", "description")


class CustomerIdCreateView(ProjectAPIView):
    """Add an ID name (hard or soft, PII by default) to the project's catalog."""

    required_permission = Perm.MANAGE_DATA

    @extend_schema(
        tags=["Data manager"],
        operation_id="data_manager_id_create",
        summary="Add a customer ID",
        description=(
            "Adds a project-defined customer ID (Exponea's `docs/external-id`), e.g. "
            '`{"name": "crm_id", "hard": true, "pii": true, "description": "CRM number"}`. '
            "A hard ID holds one value per customer and is never merged away; a soft ID "
            "(like `cookie`) may hold several. `hard` and `pii` default to true. The ID is "
            "usable in `customer_ids` of every tracking and data call at once. A taken or "
            "invalid name, or an unknown key, answers 400 naming it; nothing is written. "
            "Needs the `manage_data` permission."
        ),
        request=s.CustomerIdCreateSerializer,
        responses={201: s.CustomerIdCreateResponseSerializer, **error_responses(400, 403, 415)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise CustomerIdInvalid("The body must be a JSON object.")
        unknown = [str(key) for key in body if key not in FIELDS]
        if unknown:
            errors = [f"Unknown field '{key[:64]}'; use {', '.join(FIELDS)}." for key in unknown]
            raise CustomerIdInvalid(errors[0], errors=errors)
        if "name" not in body:
            raise CustomerIdInvalid("name is required.")
        attr = customer_id_create(
            actor=self.principal,
            name=body["name"],
            hard=body.get("hard", True),
            pii=body.get("pii", True),
            description=body.get("description", ""),
        )
        return Response({"success": True, "id": customer_id_out(attr)}, status=201)
