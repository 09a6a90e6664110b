"""The base API view: every endpoint is scoped to the project in its path and to the key.

Subclasses declare ``required_permission``; they get ``self.principal`` and never look up
the project themselves, so the safe path is the only path.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.http import HttpRequest
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from access.client_ip import client_ip
from access.errors import NotFound
from access.models import ApiKey
from access.permissions import API_KEY_PERMISSIONS, Perm
from access.principal import Principal
from access.selectors import principal_for_api_key

from . import cors
from .authentication import ApiKeyAuthentication
from .parsers import LimitedJSONParser
from .throttling import ApiKeyRateThrottle

_KEY_PERMISSION_NAMES: dict[Perm, str] = {perm: name for name, perm in API_KEY_PERMISSIONS.items()}


def _token_matches(given: Any, token: uuid.UUID) -> bool:
    try:
        return uuid.UUID(str(given)) == token
    except (ValueError, TypeError, AttributeError):
        return False


class ProjectKeyPermission(permissions.BasePermission):
    """The key belongs to the project in the path and holds the view's permission."""

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        assert key is None or isinstance(key, ApiKey)
        if key is None:
            # Exponea's wording (reference/tracking-api-authorization-errors).
            raise exceptions.NotAuthenticated("Access key not provided")
        # The key's project was loaded with the key: no query. An unknown, malformed or
        # foreign token answers exactly the same 404, so a key cannot probe for projects.
        if not _token_matches(view.kwargs.get("token"), key.project.token):
            raise NotFound("Project not found.")
        ip = client_ip(request)  # type: ignore[arg-type]  # a DRF Request proxies META
        view.principal = principal_for_api_key(key, ip=ip)
        needed = view.required_permission
        if needed is not None and not view.principal.has(needed):
            # Name the permission as API keys call it (read_customers, not view_customers).
            name = _KEY_PERMISSION_NAMES.get(needed, needed.value)
            raise exceptions.PermissionDenied(f"This API key lacks the '{name}' permission.")
        return True


class ProjectAPIView(APIView):
    """Base for every project API endpoint."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [ProjectKeyPermission]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [LimitedJSONParser]
    # "track" or "data": which per-key rate in settings.EXPONEA_API_THROTTLE_RATES applies.
    throttle_scope: ClassVar[str] = "data"
    required_permission: ClassVar[Perm | None] = None
    # The tracking endpoints only: browsers on the project's listed origins may call them
    # (access/api/cors.py). Every other endpoint answers no browser from another origin.
    cors_public: ClassVar[bool] = False
    principal: Principal

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        if "get_principal" in cls.__dict__ or "check_permissions" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override the project scoping.")
        return super().as_view(**initkwargs)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if self.cors_public and cors.is_preflight(request):
            return cors.preflight_response(request, kwargs.get("token"))
        response = super().dispatch(request, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        if self.cors_public:
            cors.add_cors_headers(request, response, kwargs.get("token"))
        return response
