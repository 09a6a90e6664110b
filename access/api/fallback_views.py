"""Answers for API paths that no endpoint serves: always JSON in Exponea's error shape.

Django's ``handler404`` is skipped when ``DEBUG`` is on (it renders its technical HTML page
instead), so the API's unknown paths are caught by a URL pattern of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

NOT_FOUND_BODY = {"success": False, "errors": ["Not found."]}


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any unknown path under /track/ or /data/, whatever the method or the DEBUG setting."""
    response = JsonResponse(NOT_FOUND_BODY, status=404)
    response["Cache-Control"] = "private, no-store"
    return response


def out_of_scope(area: str) -> Callable[..., JsonResponse]:
    """A view answering 501 for an Exponea API area this service deliberately leaves out."""

    @csrf_exempt
    def view(request: HttpRequest, token: str = "", rest: str = "") -> JsonResponse:
        response = JsonResponse(
            {
                "success": False,
                "errors": [
                    f"The {area} API is out of scope here: this service manages customer "
                    "data (tracking, customers, GDPR) only."
                ],
            },
            status=501,
        )
        response["Cache-Control"] = "private, no-store"
        return response

    return view
