"""A Redis cache that lets the site keep serving while Redis is down — without going stale.

Django's ``RedisCache`` raises on every call when Redis is unreachable, so one cache read
(the PII catalog, the API throttle) turns every page and API call into a 500. Here:

- reads miss and writes are skipped, with a warning at most every 30 seconds per process:
  callers fall back to the database (the catalog is then read on each request);
- invalidations (``delete``, ``delete_many``, ``clear``) still RAISE. A catalog change whose
  invalidation cannot reach Redis must fail and roll back; if it succeeded silently, the old
  catalog would come back from Redis after the outage and unmask a newly flagged attribute.

While Redis is down the per-key API throttles count nothing (they fail open); the warning in
the log says so.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
WARN_EVERY_SECONDS = 30.0


class ResilientRedisCache(RedisCache):
    """``RedisCache`` whose reads and writes survive an outage; invalidations fail loudly."""

    _last_warning = 0.0

    def _unavailable(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - ResilientRedisCache._last_warning >= WARN_EVERY_SECONDS:
            ResilientRedisCache._last_warning = now
            logger.warning(
                "Cache unavailable (%s during %s): serving from the database, API throttles "
                "are not counting until Redis is back.",
                type(exc).__name__,
                operation,
            )

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            self._unavailable("get", exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except RedisError as exc:
            self._unavailable("get_many", exc)
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except RedisError as exc:
            self._unavailable("has_key", exc)
            return False

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        try:
            super().set(key, value, timeout, version)
        except RedisError as exc:
            self._unavailable("set", exc)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except RedisError as exc:
            self._unavailable("add", exc)
            return False

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        try:
            return super().set_many(data, timeout, version)
        except RedisError as exc:
            self._unavailable("set_many", exc)
            return list(data)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except RedisError as exc:
            self._unavailable("touch", exc)
            return False
