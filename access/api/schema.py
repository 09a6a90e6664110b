"""OpenAPI pieces shared by every API view: the HTTP Basic scheme and the error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents :class:`~access.api.authentication.ApiKeyAuthentication` as HTTP Basic."""

    target_class = "access.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "HTTP Basic with the API key id as user name and its secret.",
        }


_ERRORS = inline_serializer(
    "ApiErrors",
    fields={
        "success": serializers.BooleanField(),
        "errors": serializers.ListField(child=serializers.CharField()),
    },
)
_AUTH_ERROR = inline_serializer(
    "ApiAuthError",
    fields={"success": serializers.BooleanField(), "error": serializers.CharField()},
)

_DESCRIPTIONS = {
    400: "Bad request body.",
    401: "Missing or invalid credentials.",
    403: "The key lacks the permission, or a PII attribute was used without Personal data.",
    404: "Unknown project, or no such customer.",
    413: "The message or a value is too large.",
    415: "The body is not JSON.",
    429: "Too many requests for this key; see Retry-After.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses every endpoint can give (401, 404, 429) plus ``codes``."""
    wanted = sorted({401, 404, 429, *codes})
    return {
        code: OpenApiResponse(
            response=_AUTH_ERROR if code == 401 else _ERRORS, description=_DESCRIPTIONS[code]
        )
        for code in wanted
    }
