"""Per-API-key throttling on the shared cache (Redis in production), configurable by settings.

Rates live in ``settings.EXPONEA_API_THROTTLE_RATES`` (``{"track": "...", "data": "..."}``,
DRF's ``"<n>/<sec|min|hour|day>"`` format, ``None`` to switch a scope off). They are read
on every request, so tests and operators can change them without re-importing DRF.

Counting is a fixed window per key and scope, incremented atomically in the cache (one
``INCR`` + ``EXPIRE`` round trip on Redis), so several gunicorn workers share one budget
without the lost updates of DRF's read-modify-write request history.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from access.client_ip import client_ip
from access.models import ApiKey

logger = logging.getLogger(__name__)
_client_lock = threading.Lock()
_redis_clients: dict[int, Any] = {}


def _redis_client(cache: RedisCache) -> Any:
    """One Redis client per process and cache (Django builds a new one per operation)."""
    with _client_lock:
        client = _redis_clients.get(id(cache))
        if client is None:
            client = _redis_clients[id(cache)] = cache._cache.get_client(write=True)
        return client


def _count(cache_key: str, window: int) -> int:
    """Add one to the counter of this window and return it; the counter expires with it."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(cache_key)
        pipe = _redis_client(cache).pipeline()
        pipe.incr(key)
        pipe.expire(key, window + 1)
        return int(pipe.execute()[0])
    cache.add(cache_key, 0, window + 1)
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, window + 1)
        return 1


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Counts requests per API key and per scope (``track`` or ``data``) in the shared cache."""

    def __init__(self) -> None:
        # SimpleRateThrottle reads a rate in __init__; here it is read per request instead.
        self.wait_seconds: float | None = None

    def get_rate(self) -> str | None:
        rates: dict[str, str | None] = getattr(settings, "EXPONEA_API_THROTTLE_RATES", {})
        return rates.get(self.scope or "data")

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        if not isinstance(key, ApiKey):
            return None  # unauthenticated requests never reach the throttle (401 first)
        if key.is_public:
            # Every visitor of the shop shares a public key: count per key *and* address
            # (Exponea's tracking limit is per IP), so one client cannot spend everyone's.
            ip = client_ip(request)  # type: ignore[arg-type]  # a DRF Request proxies META
            return f"api-throttle:{self.scope}:{key.pk}:{ip or '-'}"
        return f"api-throttle:{self.scope}:{key.pk}"

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = getattr(view, "throttle_scope", None) or "data"
        rate = self.get_rate()
        if not rate:
            return True
        limit, window = self.parse_rate(rate)
        assert limit is not None and window is not None
        base = self.get_cache_key(request, view)
        if base is None:
            return True
        now = time.time()
        index = int(now // window)
        try:
            count = _count(f"{base}:{index}", window)
        except RedisError:
            # The cache being down must not take the API down with it: fail open, loudly.
            logger.warning("API throttle skipped: the cache is unreachable.", exc_info=True)
            return True
        if count <= limit:
            return True
        self.wait_seconds = (index + 1) * window - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
