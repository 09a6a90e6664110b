"""Exponea's Authorization API: rotate or revoke the secret of the key making the request.

``POST /data/v2/projects/{token}/access-keys/rotate`` (``reference/rotate-api-secret-2``):
private access only, no permission needed; the new secret is returned once and the old
one keeps working for the grace period (24 h). Rotating with the old secret during the
grace period is refused (409), as Exponea documents ("rotating the old key twice will
result in an error"). ``.../access-keys/revoke`` (``reference/revoke-api-secret-2``): with
a secret in its grace period pending, the old secret stops working; otherwise the key is
revoked. A public key may only track, so it may do neither (403).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.errors import Forbidden
from access.models import ApiKey
from access.services import api_key_end_grace, api_key_revoke, api_key_rotate

from .base import ProjectAPIView
from .schema import error_responses

TAG = ["Authorization"]


class _OwnKeyView(ProjectAPIView):
    """The key in ``request.auth`` acts on itself; a public key is refused."""

    def own_key(self, request: Request) -> ApiKey:
        key = request.auth
        assert isinstance(key, ApiKey)
        if key.is_public:
            raise Forbidden("A public key may only track.")
        return key


class AccessKeyRotateView(_OwnKeyView):
    @extend_schema(
        tags=TAG,
        operation_id="access_keys_rotate",
        summary="Rotate the secret of the key making the request",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **error_responses(403)},
    )
    def post(self, request: Request, token: str) -> Response:
        key = self.own_key(request)
        secret = api_key_rotate(
            actor=self.principal,
            api_key=key,
            with_previous_secret=bool(getattr(key, "used_previous_secret", False)),
        )
        until = key.previous_secret_valid_until
        return Response(
            {
                "success": True,
                "key_id": key.key_id,
                "secret": secret,
                "previous_secret_valid_until": until.timestamp() if until else None,
            }
        )


class AccessKeyRevokeView(_OwnKeyView):
    @extend_schema(
        tags=TAG,
        operation_id="access_keys_revoke",
        summary="Revoke the old secret in its grace period, or else the key",
        request=None,
        responses={200: OpenApiTypes.OBJECT, **error_responses(403)},
    )
    def post(self, request: Request, token: str) -> Response:
        key = self.own_key(request)
        if key.previous_secret_valid_at(timezone.now()):
            api_key_end_grace(actor=self.principal, api_key=key)
            return Response({"success": True, "revoked": "previous_secret"})
        api_key_revoke(actor=self.principal, api_key=key)
        return Response({"success": True, "revoked": "key"})
