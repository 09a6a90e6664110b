"""The per-address login limit, on top of django-axes' per-(username, address) lockout.

Axes locks a username *from one address*, so nobody can lock the admin out from elsewhere;
this module stops one address from trying many usernames: after
``settings.LOGIN_ADDRESS_FAILURE_LIMIT`` failed sign-ins (any usernames, password change
included) within the axes cool-off, every sign-in from that address answers axes' 429 page,
even with the right password. Counted in the shared cache (Redis in production).
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest

from .client_ip import client_ip


def _key(address: str) -> str:
    return f"login-fail-addr:{address}"


def _window() -> int:
    cool_off = get_cool_off()
    return int(cool_off.total_seconds()) if cool_off else 15 * 60


def address_failures(address: str | None) -> int:
    if not address:
        return 0
    return int(cache.get(_key(address), 0))


@receiver(user_login_failed)
def _count_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    if request is None or getattr(request, "axes_locked_out", False):
        return
    address = client_ip(request)
    if not address:
        return
    key = _key(address)
    cache.add(key, 0, _window())
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, _window())


class AddressLimitBackend:
    """Refuses every sign-in from an address over its limit; otherwise lets the next try."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        if request is None:
            return None
        limit = int(getattr(settings, "LOGIN_ADDRESS_FAILURE_LIMIT", 30))
        if address_failures(client_ip(request)) >= limit:
            request.axes_locked_out = True  # type: ignore[attr-defined]  # axes' 429 page
            request.axes_credentials = credentials  # type: ignore[attr-defined]
            raise PermissionDenied("Too many failed sign-ins from this address.")
        return None

    # No get_user(): sessions never name this backend (it authenticates no one).
