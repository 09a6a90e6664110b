"""The erasure ledger: a record of every anonymization kept outside the database.

Restoring a backup brings back, with their PII, every customer anonymized after the backup
was taken. The ledger is what survives the restore: each anonymized customer appends one
JSON line to a file under ``ERASURE_LEDGER_DIR`` (default ``var/erasure-ledger/`` beside the
project), and ``manage.py replay_erasures`` anonymizes again every customer of the ledger
that a restored database still holds un-anonymized.

A line holds the project token, the internal customer id, keyed hashes (HMAC-SHA256) of the
customer's removed **hard** ID values, the time and the key's fingerprint — never a value::

    {"v": 1, "project": "<token>", "customer": 42, "hard_ids": ["<hex>", ...],
     "at": "2026-12-01T08:00:00.000000+00:00", "key": "<8 hex>", "source": "app"}

The hash key is ``ERASURE_LEDGER_KEY`` (default: derived from ``SECRET_KEY``), made
per-project by an HMAC over the project token, so the same e-mail address hashes
differently in two projects and a leaked ledger cannot be matched without the key.

Durability: the lines of one chunk are written with a single ``write`` on a file opened
``O_APPEND``, under an exclusive ``flock`` (several workers append to the same file), and
``fsync``-ed before the anonymization's transaction commits. A line may therefore name a
customer whose transaction then rolled back (the job retries it; a replay would only
finish an erasure that was asked for) — the opposite order could lose an erasure that
committed. Files are per UTC day and are never rewritten.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from access.models import Project

from ..models import Customer, CustomerId
from ..selectors import id_names

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_PREFIX = "erasures-"
FILE_SUFFIX = ".jsonl"
_NEVER = datetime.min.replace(tzinfo=UTC)


def ledger_dir() -> Path:
    return Path(
        getattr(settings, "ERASURE_LEDGER_DIR", "") or settings.BASE_DIR / "var" / "erasure-ledger"
    )


def _master_key() -> bytes:
    configured = getattr(settings, "ERASURE_LEDGER_KEY", "")
    if configured:
        return str(configured).encode()
    return _derived_master_key(settings.SECRET_KEY)


# Both keys are pure functions of their inputs, so they are computed once per input: a
# /batch of 50 events spent a quarter of its Python CPU recomputing them for every hard ID.
@functools.lru_cache(maxsize=8)
def _derived_master_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"exponea_pii.erasure-ledger", hashlib.sha256).digest()


@functools.lru_cache(maxsize=1024)
def _project_key_for(master_key: bytes, project_token: str) -> bytes:
    return hmac.new(master_key, f"project:{project_token}".encode(), hashlib.sha256).digest()


def _project_key(project_token: str) -> bytes:
    return _project_key_for(_master_key(), project_token)


def key_fingerprint() -> str:
    """Eight hex characters naming the key, so a replay can tell that the key changed."""
    return hmac.new(_master_key(), b"fingerprint", hashlib.sha256).hexdigest()[:8]


def hard_id_hash(project_token: str, name: str, value: str) -> str:
    """The keyed hash of one hard ID; the name is part of it (``registered`` ≠ ``crm_id``)."""
    message = name.encode() + b"\x00" + value.encode()
    return hmac.new(_project_key(project_token), message, hashlib.sha256).hexdigest()


def _hard_ids_by_customer(project: Project, pks: Sequence[int]) -> dict[int, list[str]]:
    hard = [name for name, is_hard in id_names(project).items() if is_hard]
    hashes: dict[int, list[str]] = {pk: [] for pk in pks}
    if not hard:
        return hashes
    token = str(project.token)
    rows = CustomerId.objects.filter(customer_id__in=list(pks), name__in=hard).values_list(
        "customer_id", "name", "value"
    )
    for customer_id, name, value in rows:
        hashes[customer_id].append(hard_id_hash(token, name, value))
    return hashes


def _append(path: Path, data: bytes) -> None:
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size:
                # A writer killed mid-line left a torn last line: start on a fresh one, so
                # only that line is lost, never the next.
                with open(path, "rb") as reader:
                    reader.seek(size - 1)
                    if reader.read(1) != b"\n":
                        data = b"\n" + data
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    if new:
        # The new file's name must survive a crash too.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def erasure_ledger_record(*, project: Project, customer_pks: Sequence[int], source: str) -> None:
    """Append one ledger line per customer about to be anonymized; call before the IDs go.

    Runs inside the anonymization's transaction, after the customers were locked and
    before their IDs are deleted (the hard ID values are read here, one query). Raises if
    the ledger cannot be written, which rolls the anonymization back: an erasure that the
    ledger does not hold would come back with the next restore.
    """
    if not customer_pks:
        return
    hashes = _hard_ids_by_customer(project, customer_pks)
    at = timezone.now().isoformat()
    fingerprint = key_fingerprint()
    token = str(project.token)
    lines = [
        json.dumps(
            {
                "v": FORMAT_VERSION,
                "project": token,
                "customer": pk,
                "hard_ids": sorted(hashes.get(pk, [])),
                "at": at,
                "key": fingerprint,
                "source": source,
            },
            separators=(",", ":"),
        )
        for pk in customer_pks
    ]
    directory = ledger_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    day = timezone.now().astimezone(UTC).strftime("%Y-%m-%d")
    _append(directory / f"{FILE_PREFIX}{day}{FILE_SUFFIX}", ("\n".join(lines) + "\n").encode())


@dataclass(frozen=True)
class LedgerEntry:
    """One anonymized customer as the ledger remembers it."""

    project: str
    customer: int
    hard_ids: tuple[str, ...]
    at: datetime
    key: str


def _entry(obj: Any) -> LedgerEntry | None:
    if not isinstance(obj, dict) or obj.get("v") != FORMAT_VERSION:
        return None
    try:
        at = datetime.fromisoformat(str(obj["at"]))
        return LedgerEntry(
            project=str(obj["project"]),
            customer=int(obj["customer"]),
            hard_ids=tuple(str(h) for h in obj.get("hard_ids", [])),
            at=at,
            key=str(obj.get("key", "")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def ledger_entries(*, project_token: str | None = None) -> Iterator[LedgerEntry]:
    """Every readable entry, oldest file first; a torn or foreign line is skipped and logged."""
    directory = ledger_dir()
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}")):
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    entry = _entry(json.loads(raw))
                except ValueError:
                    entry = None
                if entry is None:
                    logger.warning(
                        "Erasure ledger %s line %s is unreadable; skipped.", path.name, number
                    )
                    continue
                if project_token is None or entry.project == project_token:
                    yield entry


# Replay after a restore -------------------------------------------------------------------


def erasures_pending(*, project: Project) -> list[int]:
    """Customers of ``project`` that the ledger says were erased but the database holds intact.

    A customer matches an entry by internal id, or by holding a hard ID whose keyed hash the
    entry lists — and only if it was created no later than the entry: after a restore the id
    sequence restarts from the backup, so a customer created since then may get an erased
    customer's id, and a person may register again with the same e-mail after an erasure;
    neither is the person who was erased. Reads the project's hard IDs once, streamed.
    """
    token = str(project.token)
    latest_by_id: dict[int, datetime] = {}
    latest_by_hash: dict[str, datetime] = {}
    for entry in ledger_entries(project_token=token):
        if entry.at > latest_by_id.get(entry.customer, _NEVER):
            latest_by_id[entry.customer] = entry.at
        for digest in entry.hard_ids:
            if entry.at > latest_by_hash.get(digest, _NEVER):
                latest_by_hash[digest] = entry.at
    if not latest_by_id:
        return []
    pending: set[int] = set()
    ids = sorted(latest_by_id)
    for start in range(0, len(ids), 5000):
        found = Customer.objects.filter(
            project=project, anonymized_at__isnull=True, pk__in=ids[start : start + 5000]
        ).values_list("pk", "created_at")
        pending.update(pk for pk, created in found if created <= latest_by_id[pk])
    hard = [name for name, is_hard in id_names(project).items() if is_hard]
    if latest_by_hash and hard:
        rows = (
            CustomerId.objects.filter(
                project=project, name__in=hard, customer__anonymized_at__isnull=True
            )
            .values_list("customer_id", "name", "value", "customer__created_at")
            .iterator(chunk_size=5000)
        )
        for customer_id, name, value, created in rows:
            erased_at = latest_by_hash.get(hard_id_hash(token, name, value))
            if erased_at is not None and created <= erased_at:
                pending.add(customer_id)
    return sorted(pending)
