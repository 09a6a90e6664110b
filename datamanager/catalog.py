"""The PII catalog: which customer properties, ID names and event attributes are personal data.

One small immutable object per project, read by the masking object and by anonymization.
With a shared cache (Redis) it is cached and invalidated on every save; with a per-process
cache it is read from the database each time, since another process could not see the
invalidation and a stale catalog would unmask a freshly flagged attribute.

The cache cannot go back in time: the catalog is stored under a key that holds the
project's catalog *version*, read before the database. A save replaces the version after
its commit, so a reader that loaded the catalog before the commit stores it under the old
version, which nobody reads again.

Flag changes and anonymization agree on one catalog through :func:`catalog_lock`: a save
takes the project's catalog lock exclusively, an anonymization takes it shared after its
customers are locked and reads its plan under it (PostgreSQL advisory transaction locks;
SQLite serializes writers anyway).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

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


def _version_key(project_id: int) -> str:
    return f"pii-catalog:version:{project_id}"


def _cache_key(project_id: int, version: str) -> str:
    return f"pii-catalog:v2:{project_id}:{version}"


def _current_version(project_id: int) -> str:
    """The project's catalog version; a fresh one if none is cached (never expires)."""
    key = _version_key(project_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, None)
        version = cache.get(key)
    return str(version)


# pg_advisory_xact_lock(int, int): this namespace and the project id.
_LOCK_NAMESPACE = 0x50494943  # "PIIC"


def catalog_lock(project_id: int, *, exclusive: bool) -> None:
    """Take the project's catalog lock until the end of the transaction.

    Flag changes take it exclusively; anonymization takes it shared after locking its
    customers, then reads the plan, so the plan is the catalog as committed and no flag
    can be saved half-way through an anonymization. Order: customers first, then the
    catalog lock, then attribute rows.
    """
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time already
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {fn}(%s, %s)", [_LOCK_NAMESPACE, project_id & 0x7FFFFFFF])


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
    # The version is read before the database: if a save commits after it, this load is
    # stored under the old version and never served again.
    key = _cache_key(project_id, _current_version(project_id))
    data = cache.get(key)
    if data is not None:
        return PiiCatalog.from_cache(project_id, data)
    catalog = catalog_load(project_id)
    cache.add(key, catalog.to_cache(), CACHE_TIMEOUT)
    return catalog


def catalog_invalidate(project_id: int) -> None:
    """Drop the project's catalog version now and again after commit.

    The bump after commit is the one that matters: any catalog loaded before it is cached
    under an older version. (The one now makes this process's later reads in the same
    transaction miss the cache.)
    """

    def bump() -> None:
        # A delete, not a set: the next reader adds a fresh version. The resilient Redis
        # cache skips a failed *set* but raises on a failed *delete*, so a flag change
        # whose invalidation cannot reach Redis rolls back instead of leaving the old
        # catalog to come back after the outage.
        cache.delete(_version_key(project_id))

    bump()
    transaction.on_commit(bump)
