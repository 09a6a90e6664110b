"""CORS for the public tracking surface: origins an admin lists per project, nothing else.

Only views that set ``cors_public`` (the tracking endpoints) answer a browser from another
origin. A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
is answered before authentication, as browsers send no credentials with it: 204 with the
CORS headers for a listed origin; for an unlisted origin, an unknown or another project's
token alike, 403 in the API's error shape, so a preflight tells nothing about projects.
Actual responses carry ``Access-Control-Allow-Origin`` only for a listed origin. No
credentials (cookies) are ever allowed: a public key travels in the Authorization header.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from access.models import TrackingSettings

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = 600


def allowed_origins(token: Any) -> frozenset[str]:
    """The origins the project with this path token lists (none for an unknown token)."""
    try:
        parsed = uuid.UUID(str(token))
    except (ValueError, TypeError, AttributeError):
        return frozenset()
    origins = (
        TrackingSettings.objects.filter(project__token=parsed)
        .values_list("allowed_origins", flat=True)
        .first()
    )
    return frozenset(o for o in (origins or []) if isinstance(o, str))


def is_preflight(request: HttpRequest) -> bool:
    return (
        request.method == "OPTIONS"
        and "HTTP_ORIGIN" in request.META
        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META
    )


def preflight_response(request: HttpRequest, token: Any) -> HttpResponse:
    origin = request.META.get("HTTP_ORIGIN", "")
    if origin not in allowed_origins(token):
        response: HttpResponse = JsonResponse(
            {"success": False, "errors": ["This origin may not call the tracking API."]},
            status=403,
        )
    else:
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    response["Vary"] = "Origin"
    response["Cache-Control"] = "private, no-store"
    return response


def add_cors_headers(request: HttpRequest, response: Any, token: Any) -> None:
    """On an actual (non-preflight) response: allow the listed origin that sent it."""
    origin = request.META.get("HTTP_ORIGIN")
    if not origin:
        return
    response["Vary"] = "Origin"
    if origin in allowed_origins(token):
        response["Access-Control-Allow-Origin"] = origin
