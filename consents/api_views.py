"""``GET /data/v2/projects/{token}/consent/categories`` (``reference/get-consent-categories-2``).

Exponea needs no permission for it: any private key of the project may read the
categories. A public key may only track (issue 15's rule for this service), so it is
refused here although Exponea serves it the categories (docs/api-compatibility.md).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.errors import Forbidden
from access.models import ApiKey

from .selectors import categories_exponea_shape


class ConsentCategoriesView(ProjectAPIView):
    @extend_schema(
        tags=["Consents"],
        operation_id="consent_categories",
        summary="The project's consent categories",
        responses={200: OpenApiTypes.OBJECT, **error_responses(403)},
    )
    def get(self, request: Request, token: str) -> Response:
        key = request.auth
        if isinstance(key, ApiKey) and key.is_public:
            raise Forbidden("A public key may only track.")
        return Response(
            {"success": True, "results": categories_exponea_shape(self.principal.project)}
        )
