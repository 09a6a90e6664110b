"""API authentication as Exponea documents it (``ref/technical-information``).

Private access: HTTP Basic ``key_id:secret``. Public access: ``Authorization: Token
<public key>`` or ``?access_token=<public key>``; a public key may only track
(:func:`access.selectors.principal_for_api_key`).
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from access.models import ApiKey
from access.selectors import api_key_authenticate, public_key_authenticate

# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate an API key; the request's user is None and ``request.auth`` the key."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            token = request.query_params.get("access_token")
            if token is None:
                return None
            return self._public(token)
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "token" and encoded:
            return self._public(encoded.strip())
        if scheme.lower() != "basic" or not encoded:
            raise exceptions.AuthenticationFailed(
                "Use HTTP Basic authentication with key_id:secret, or Token <public key>."
            )
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error, non-ASCII input
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from exc
        key_id, sep, secret = decoded.partition(":")
        if not sep:
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.")
        # A malformed key id (NUL byte, non-ASCII, too long) is refused inside, after the
        # same hashing as a wrong secret: every bad credential answers 401 alike.
        key = api_key_authenticate(key_id, secret)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid API key or secret.")
        return self._used(key)

    def _public(self, token: str) -> tuple[Any, ApiKey]:
        key = public_key_authenticate(token)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid API key or secret.")
        return self._used(key)

    def _used(self, key: ApiKey) -> tuple[Any, ApiKey]:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="api"'
