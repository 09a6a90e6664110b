"""One exception handler: domain and DRF errors in Exponea's shape, never a stack trace.

Errors: ``{"success": false, "errors": [...]}``; authentication: ``{"success": false,
"error": "..."}``. Messages come from validation of names and shapes, never echo values.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core import signals
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import page_not_found, server_error
from rest_framework import exceptions, status
from rest_framework.response import Response

from access.errors import DomainError


def _flatten(detail: Any, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, "" if key == "non_field_errors" else name))
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


# The database went away (restart, failover, a dropped connection, a statement timeout): the
# request's transaction rolled back, so nothing of it was written; the client retries.
DATABASE_RETRY_AFTER_SECONDS = 5


def _database_unavailable(exc: Exception) -> Response:
    # The type only: a database error's message may quote the row it was writing.
    logging.getLogger(__name__).warning(
        "Database unavailable (%s): answered 503, nothing written.", type(exc).__name__
    )
    response = Response(
        {"success": False, "errors": ["Service temporarily unavailable; retry later."]},
        status=503,
    )
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def exponea_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError):
        return _database_unavailable(exc)
    if isinstance(exc, DomainError):
        return Response({"success": False, "errors": exc.errors}, status=exc.status_code)
    if isinstance(exc, Http404):
        return Response({"success": False, "errors": ["Not found."]}, status=404)
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response({"success": False, "error": str(exc.detail)}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="api"'
        return response
    if isinstance(exc, exceptions.Throttled):
        response = Response({"success": False, "errors": ["Too many requests."]}, status=429)
        wait = getattr(exc, "wait", None)
        if wait is not None:
            response["Retry-After"] = str(int(wait) + 1)
        return response
    if isinstance(exc, exceptions.ParseError):
        return Response({"success": False, "errors": ["Malformed JSON body."]}, status=400)
    if isinstance(exc, exceptions.APIException):
        return Response(
            {"success": False, "errors": _flatten(exc.detail)},
            status=exc.status_code or status.HTTP_400_BAD_REQUEST,
        )
    return _unexpected(exc, context)


INTERNAL_ERROR = {"success": False, "errors": ["Internal server error."]}


def _unexpected(exc: Exception, context: dict[str, Any]) -> Response:
    """A bug: Exponea's JSON shape with no detail (the message may quote a stored row).

    Logged and signalled as Django does for an unhandled exception, so the redacting log
    formatter, error mails and monitoring still see it.
    """
    request = context.get("request")
    django_request = getattr(request, "_request", request)
    path = getattr(django_request, "path", "")
    logging.getLogger("django.request").error(
        "Internal Server Error: %s",
        path,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"status_code": 500, "request": django_request},
    )
    signals.got_request_exception.send(sender=None, request=django_request)
    return Response(INTERNAL_ERROR, status=500)


API_PATH_PREFIXES = ("/track/", "/data/")


def api_aware_page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404: Exponea's JSON error shape under the API paths, the HTML page elsewhere.

    A script that mistypes an endpoint gets the same body as any other API error.
    """
    if request.path.startswith(API_PATH_PREFIXES):
        return JsonResponse({"success": False, "errors": ["Not found."]}, status=404)
    return page_not_found(request, exception)


def api_aware_server_error(request: HttpRequest) -> HttpResponse:
    """The site's 500 (``DEBUG`` off): Exponea's JSON shape under the API paths.

    When the exception being handled is the database going away, a page answers what the
    API answers: 503 with ``Retry-After`` (the request's transaction rolled back, so a
    reload is safe), on a page rendered without the request, whose context processors and
    session would need the database.
    """
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError):
        if request.path.startswith(API_PATH_PREFIXES):
            response: HttpResponse = JsonResponse(
                {"success": False, "errors": ["Service temporarily unavailable; retry later."]},
                status=503,
            )
        else:
            html = render_to_string("unavailable.html", {"retry_after": RETRY_AFTER_PAGE})
            response = HttpResponse(html, status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        return response
    if request.path.startswith(API_PATH_PREFIXES):
        return JsonResponse(INTERNAL_ERROR, status=500)
    return server_error(request)


# The page reloads itself after this many seconds (a little after Retry-After).
RETRY_AFTER_PAGE = 10
