"""The cached catalog sees a saved change on the very next request, with a shared cache too."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from django.test import Client

from datamanager.catalog import catalog_for_project
from datamanager.masking import MASK, Masker
from tests import factories
from tests.conftest import World

REDIS_URL = os.environ.get("DATAMANAGER_TEST_REDIS", "redis://127.0.0.1:6379/11")


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


@pytest.fixture(params=["locmem", "redis"])
def cache_backend(request: Any, settings: Any) -> str:
    if request.param == "redis":
        if not _redis_answers():
            pytest.skip(f"Redis does not answer at {REDIS_URL}")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"dm-test-{uuid.uuid4().hex}",
            }
        }
    return str(request.param)


def _api_city_values(client: Client, world: World) -> Any:
    url = f"/data/v2/projects/{world.project.token}/data-manager/catalog?include=values"
    response = client.get(url, HTTP_AUTHORIZATION=world.masked_key.basic)
    assert response.status_code == 200
    city = next(a for a in response.json()["customer_attributes"] if a["name"] == "city")
    return city["values"]


def test_next_request_sees_the_flag(world: World, cache_backend: str) -> None:
    client = Client()
    # Warm the cache: the masked key sees city's values.
    assert _api_city_values(client, world)["values"] == [{"value": "Bratislava", "count": 1}]
    masked = world.masked_key.principal
    assert Masker.for_principal(masked).customer_value("city", "Bratislava") == "Bratislava"

    url = f"/data/v2/projects/{world.project.token}/data-manager/catalog"
    response = client.patch(
        url,
        {"customer_attributes": [{"name": "city", "pii": True}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=world.full_key.basic,
    )
    assert response.status_code == 200, response.content

    assert _api_city_values(client, world) == {"personal_data": True}
    assert Masker.for_principal(masked).customer_value("city", "Bratislava") == MASK
    assert "city" in catalog_for_project(world.project.pk).customer_properties


def test_shared_cache_is_used_and_invalidated(world: World, cache_backend: str) -> None:
    if cache_backend != "redis":
        pytest.skip("only a shared cache holds the catalog")
    from django.core.cache import cache

    from datamanager.catalog import _cache_key, _current_version
    from datamanager.services import pii_flags_set

    catalog_for_project(world.project.pk)
    before = _current_version(world.project.pk)
    assert cache.get(_cache_key(world.project.pk, before)) is not None
    pii_flags_set(actor=factories.system(world.project), customer_attributes={"plan": True})
    after = _current_version(world.project.pk)
    assert after != before
    assert cache.get(_cache_key(world.project.pk, after)) is None
    assert "plan" in catalog_for_project(world.project.pk).customer_properties


@pytest.mark.django_db(transaction=True)
def test_a_reader_that_loaded_before_a_flag_cannot_cache_the_old_catalog(
    world: World, cache_backend: str, monkeypatch: Any
) -> None:
    """Issue 21 (3): the reader loads, the flag commits and invalidates, the reader stores."""
    if cache_backend != "redis":
        pytest.skip("only a shared cache holds the catalog")
    import datamanager.catalog as catalog_module
    from datamanager.services import pii_flags_set

    real_load = catalog_module.catalog_load
    stale: list[Any] = []

    def load_then_flag_commits(project_id: int) -> Any:
        loaded = real_load(project_id)  # before the flag
        if not stale:
            stale.append(loaded)
            # Autocommit: the save commits and its on_commit invalidation runs right here,
            # after this reader's load and before its store.
            pii_flags_set(actor=factories.system(world.project), customer_attributes={"plan": True})
        return loaded

    monkeypatch.setattr(catalog_module, "catalog_load", load_then_flag_commits)
    first = catalog_for_project(world.project.pk)
    assert "plan" not in first.customer_properties  # the racing reader itself is old...
    monkeypatch.setattr(catalog_module, "catalog_load", real_load)
    # ...but what it stored is never served: the next reader sees the flag.
    assert "plan" in catalog_for_project(world.project.pk).customer_properties
    masked = world.masked_key.principal
    assert Masker.for_principal(masked).customer_value("plan", "premium") == MASK
