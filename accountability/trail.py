"""The tamper-evident trail over the audit log and the personal-data access log.

Entries are never hashed at insert (requests would queue on one lock per project).
Instead a sealer covers the settled entries of one log in batches: a :class:`TrailSeal`
holds the SHA-256 of every entry's content in ``(previous seal's last_id, last_id]`` and
a hash over them chained to the previous seal's hash. :func:`trail_verify` recomputes
everything and names the first entry that was altered, removed or inserted, or the first
seal that was. What it cannot see: entries not sealed yet, and a rewrite of the whole
chain from the start by someone with write access to the database -- publish the head
hash it prints (a ticket, a log shipped elsewhere) to anchor it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from access.models import AuditEvent

from .models import PersonalDataAccess, TrailLog, TrailSeal

GENESIS = "0" * 64
SEAL_BATCH = 10_000
# Entries younger than this are left for the next run: a transaction that allocated an id
# but committed later must not show up as "inserted" into a sealed range.
SETTLE = dt.timedelta(minutes=5)


def _audit_content(e: AuditEvent) -> list[Any]:
    return [
        e.pk,
        e.project_id,
        e.actor_label,
        e.action,
        e.target_type,
        e.target_id,
        e.details,
        e.ip,
        e.created_at.isoformat(),
    ]


def _access_content(e: PersonalDataAccess) -> list[Any]:
    return [
        e.pk,
        e.project_id,
        e.actor_label,
        e.channel,
        e.view,
        e.customer_ids,
        e.customer_count,
        e.attribute_names,
        e.filter,
        str(e.export_id) if e.export_id else None,
        e.reason,
        e.ip,
        e.created_at.isoformat(),
    ]


# Foreign keys to users and keys are not hashed: deleting a user sets them to NULL (the
# label, which is hashed, keeps who it was).
LOGS: dict[str, tuple[type[models.Model], Callable[[Any], list[Any]]]] = {
    TrailLog.AUDIT: (AuditEvent, _audit_content),
    TrailLog.ACCESS: (PersonalDataAccess, _access_content),
}


def entry_digest(log: str, entry: Any) -> str:
    content = LOGS[log][1](entry)
    raw = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def seal_hash(previous: str, log: str, first_id: int, last_id: int, digests: list[Any]) -> str:
    raw = json.dumps([previous, log, first_id, last_id, digests], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _lock(log: str) -> None:
    """One sealer per log at a time (SQLite serializes writers by itself)."""
    if connection.vendor == "postgresql":
        key = int(hashlib.sha256(f"trail-seal:{log}".encode()).hexdigest()[:15], 16)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def trail_seal_pending(log: str, *, settle: dt.timedelta = SETTLE) -> int:
    """Seal every settled, unsealed entry of ``log``; returns how many were sealed."""
    model = LOGS[log][0]
    sealed = 0
    while True:
        with transaction.atomic():
            _lock(log)
            head = TrailSeal.objects.filter(log=log).order_by("-last_id").first()
            after = head.last_id if head else 0
            cutoff = timezone.now() - settle
            batch = list(
                model._default_manager.filter(pk__gt=after, created_at__lte=cutoff).order_by("pk")[
                    :SEAL_BATCH
                ]
            )
            if not batch:
                return sealed
            digests = [[e.pk, entry_digest(log, e)] for e in batch]
            previous = head.hash if head else GENESIS
            first, last = batch[0].pk, batch[-1].pk
            TrailSeal.objects.create(
                log=log,
                first_id=first,
                last_id=last,
                digests=digests,
                previous_hash=previous,
                hash=seal_hash(previous, log, first, last, digests),
            )
            sealed += len(batch)


@dataclass(frozen=True)
class TrailReport:
    log: str
    sealed_entries: int
    seals: int
    unsealed_entries: int
    head_hash: str
    # The first problem found, in id order ("entry 42 was altered"), or "" if it held.
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def _entries_in(model: type[models.Model], low: int, high: int) -> Iterator[Any]:
    """Entries with ``low < id <= high`` in id order, read in chunks."""
    return model._default_manager.filter(pk__gt=low, pk__lte=high).order_by("pk").iterator(2000)


def trail_verify(log: str) -> TrailReport:
    """Recompute every seal of ``log`` against the stored entries and the chain."""
    model = LOGS[log][0]
    name = TrailLog(log).label
    previous, after, count, seals = GENESIS, 0, 0, 0

    def report(problem: str = "") -> TrailReport:
        unsealed = model._default_manager.filter(pk__gt=after).count()
        return TrailReport(log, count, seals, unsealed, previous, problem)

    for seal in TrailSeal.objects.filter(log=log).order_by("last_id").iterator(100):
        if seal.previous_hash != previous or seal.hash != seal_hash(
            seal.previous_hash, log, seal.first_id, seal.last_id, seal.digests
        ):
            return report(
                f"{name}: the seal of entries {seal.first_id}..{seal.last_id} was altered, "
                f"or a seal before it was removed."
            )
        expected = {int(pk): digest for pk, digest in seal.digests}
        found: set[int] = set()
        problems: list[tuple[int, str]] = []
        for entry in _entries_in(model, after, seal.last_id):
            found.add(entry.pk)
            if entry.pk not in expected:
                problems.append((entry.pk, "was inserted after it was sealed"))
            elif entry_digest(log, entry) != expected[entry.pk]:
                problems.append((entry.pk, "was altered"))
            if problems:
                break
        problems += [(pk, "was removed") for pk in set(expected) - found]
        if problems:
            pk, what = min(problems)
            return report(f"{name}: entry {pk} {what}.")
        previous, after = seal.hash, seal.last_id
        count += len(expected)
        seals += 1
    return report()
