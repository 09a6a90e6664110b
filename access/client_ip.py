"""The client's address, for the audit log, the login lockout and the address limit.

``REMOTE_ADDR`` unless ``settings.TRUSTED_PROXY`` says how many proxies stand in front of
the app: then the address the outermost trusted proxy saw, taken from the right of
``X-Forwarded-For`` (entries further left were written by the client and prove nothing).
A missing, short or malformed header falls back to ``REMOTE_ADDR``.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    hops = int(getattr(settings, "TRUSTED_PROXY", 0) or 0)
    if hops <= 0:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < hops:
        return remote
    return _valid(forwarded[-hops]) or remote
