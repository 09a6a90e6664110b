"""The PII catalog: which customer properties, ID names and event attributes are personal data.

One small immutable object per project, read by the masking object and by anonymization.
With a shared cache (Redis) it is cached and invalidated on every save; with a per-process
cache it is read from the database each time, since another process could not see the
invalidation and a stale catalog would unmask a freshly flagged attribute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from .models import AttributeKind, CustomerAttribute, EventAttribute

CACHE_TIMEOUT = 60 * 60


@dataclass(frozen=True)
class PiiCatalog:
    """The PII-flagged names of one project."""

    project_id: int
    customer_properties: frozenset[str] = frozenset()
    id_names: frozenset[str] = frozenset()
    event_attributes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def is_pii_customer_attribute(self, name: str) -> bool:
        """True for a PII property or a PII ID name (they share one namespace)."""
        return name in self.customer_properties or name in self.id_names

    def event_pii(self, event_type: str) -> frozenset[str]:
        return self.event_attributes.get(event_type, frozenset())

    def to_cache(self) -> dict[str, Any]:
        return {
            "customer_properties": sorted(self.customer_properties),
            "id_names": sorted(self.id_names),
            "event_attributes": {k: sorted(v) for k, v in self.event_attributes.items()},
        }

    @classmethod
    def from_cache(cls, project_id: int, data: dict[str, Any]) -> PiiCatalog:
        events = data["event_attributes"]
        return cls(
            project_id=project_id,
            customer_properties=frozenset(data["customer_properties"]),
            id_names=frozenset(data["id_names"]),
            event_attributes={k: frozenset(v) for k, v in events.items()},
        )


def _cache_key(project_id: int) -> str:
    return f"pii-catalog:v1:{project_id}"


def _catalog_is_cached() -> bool:
    backend = str(settings.CACHES["default"]["BACKEND"])
    return "locmem" not in backend.lower() and "dummy" not in backend.lower()


def catalog_load(project_id: int) -> PiiCatalog:
    """Read the catalog from the database (two queries)."""
    props: set[str] = set()
    ids: set[str] = set()
    for name, kind in CustomerAttribute.objects.filter(project_id=project_id, pii=True).values_list(
        "name", "kind"
    ):
        (ids if kind == AttributeKind.ID else props).add(name)
    events: dict[str, set[str]] = defaultdict(set)
    for type_name, attr_name in EventAttribute.objects.filter(
        event_type__project_id=project_id, pii=True
    ).values_list("event_type__name", "name"):
        events[type_name].add(attr_name)
    return PiiCatalog(
        project_id=project_id,
        customer_properties=frozenset(props),
        id_names=frozenset(ids),
        event_attributes={k: frozenset(v) for k, v in events.items()},
    )


def catalog_for_project(project_id: int) -> PiiCatalog:
    """The current catalog of a project; every request sees a saved change at once."""
    if not _catalog_is_cached():
        return catalog_load(project_id)
    data = cache.get(_cache_key(project_id))
    if data is not None:
        return PiiCatalog.from_cache(project_id, data)
    catalog = catalog_load(project_id)
    cache.set(_cache_key(project_id), catalog.to_cache(), CACHE_TIMEOUT)
    return catalog


def catalog_invalidate(project_id: int) -> None:
    """Drop the cached catalog now and again after commit (a reader in between re-caches)."""
    cache.delete(_cache_key(project_id))
    transaction.on_commit(lambda: cache.delete(_cache_key(project_id)))
