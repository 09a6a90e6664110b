"""Per-API-key throttling on the shared cache (Redis in production), configurable by settings.

Rates live in ``settings.EXPONEA_API_THROTTLE_RATES`` (``{"track": "...", "data": "..."}``,
DRF's ``"<n>/<sec|min|hour|day>"`` format, ``None`` to switch a scope off). They are read
on every request, so tests and operators can change them without re-importing DRF.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from access.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Counts requests per API key and per scope (``track`` or ``data``) in the shared cache."""

    cache_format = "api-throttle:%(scope)s:%(ident)s"

    def __init__(self) -> None:
        # SimpleRateThrottle reads the rate in __init__ from the view's scope; see allow_request.
        pass

    def get_rate(self) -> str | None:
        rates: dict[str, str | None] = getattr(settings, "EXPONEA_API_THROTTLE_RATES", {})
        return rates.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = getattr(view, "throttle_scope", None) or "data"
        self.rate = self.get_rate()
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        if not isinstance(key, ApiKey):
            return None  # unauthenticated requests never reach the throttle (401 first)
        return self.cache_format % {"scope": self.scope, "ident": key.pk}
