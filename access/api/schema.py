"""OpenAPI pieces shared by every API view: the authentication schemes and the error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents :class:`~access.api.authentication.ApiKeyAuthentication`.

    Every operation takes a private key (HTTP Basic). The tracking operations, the ones a
    browser may call (``cors_public``), also take a public key, in the ``Authorization``
    header as ``Token <key>`` or as ``?access_token=``: either one of the three (OR).
    """

    target_class = "access.api.authentication.ApiKeyAuthentication"
    name = ["apiKey", "publicToken", "publicTokenQuery"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        if getattr(auto_schema.view, "cors_public", False):
            return [{"apiKey": []}, {"publicToken": []}, {"publicTokenQuery": []}]
        return [{"apiKey": []}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        public = "A public tracking key (it may only track; it sits in every page that tracks)"
        return [
            {
                "type": "http",
                "scheme": "basic",
                "description": "HTTP Basic with the API key id as user name and its secret.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": f"`Authorization: Token <public key>`. {public}.",
            },
            {
                "type": "apiKey",
                "in": "query",
                "name": "access_token",
                "description": f"`?access_token=<public key>`. {public}.",
            },
        ]


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
