"""HTTP Basic ``key_id:secret`` authentication for the API (Exponea's private access)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from access.models import ApiKey
from access.selectors import api_key_authenticate

# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate an API key; the request's user is None and ``request.auth`` the key."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise exceptions.AuthenticationFailed(
                "Use HTTP Basic authentication with key_id:secret."
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
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="api"'
