"""How long the shared cache holds the PII catalog (issue 20's mutation run of catalog.py).

The version key never expires: an expiring version would make readers drop a catalog
that is still current. The catalog under a version lives an hour (``CACHE_TIMEOUT``):
versions a save replaced are never read again and must not stay in Redis for ever.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from datamanager.catalog import (
    CACHE_TIMEOUT,
    _cache_key,
    _current_version,
    _version_key,
    catalog_for_project,
    catalog_load,
)
from tests.conftest import World

REDIS_URL = os.environ.get("DATAMANAGER_TEST_REDIS", "redis://127.0.0.1:6379/11")


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def _ttl(key: str) -> int:
    """Redis's TTL of a cache key: seconds left, -1 for never, -2 for no such key."""
    from django.core.cache import cache

    client = cache._cache.get_client(key)  # type: ignore[attr-defined]
    return int(client.ttl(cache.make_and_validate_key(key)))


def test_the_catalog_lives_an_hour_under_a_version_that_never_expires(
    world: World, settings: Any
) -> None:
    if not _redis_answers():
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"catalog-lifetime-{uuid.uuid4().hex}",
        }
    }
    pk = world.project.pk
    assert catalog_for_project(pk) == catalog_load(pk)
    assert _ttl(_version_key(pk)) == -1
    stored = _ttl(_cache_key(pk, _current_version(pk)))
    assert CACHE_TIMEOUT - 60 < stored <= CACHE_TIMEOUT == 3600
