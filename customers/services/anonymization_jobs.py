"""Anonymization jobs, the lifecycle of bulk work: create (idempotent), queue, step, resume.

An :class:`~customers.models.AnonymizationJob` holds internal customer ids only: the
request's IDs are resolved when the job is created (the job never stores an external ID
value). :func:`anonymization_job_step` anonymizes one chunk through
:func:`.anonymization.customer_anonymize` and commits the job's progress in the same
transaction, so a worker killed at any moment leaves no half-anonymized customer and the next
run continues with the first pending item.

A job is queued by sending :data:`customers.signals.anonymization_job_queued` after commit;
``customers/tasks.py`` (the Celery entry points, connected in ``customers/apps.py``) sends it
to the broker and calls :func:`anonymization_job_step` per message, so these services never
import the tasks that call them. Which chain of messages runs a job: :mod:`.job_lease`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from access.errors import DomainError, InvalidInput, NotFound
from access.permissions import Perm
from access.principal import Principal
from access.selectors import principal_for_api_key, principal_for_system, principal_for_user
from access.services import audit_record

from ..models import AnonymizationJob, AnonymizationJobItem, Customer
from ..selectors import customer_pks_for_ids, id_names
from ..signals import anonymization_job_queued
from ..validation import clean_ids
from .anonymization import (
    anonymization_source_clean,
    anonymized_pii_remove,
    chunk_size,
    customer_anonymize,
    customer_survivor,
)
from .anonymization_sql import ids_in_sql
from .tracking import run_retrying

logger = logging.getLogger(__name__)


# Creating a job -------------------------------------------------------------------------------


def anonymization_entries_resolve(
    *, actor: Principal, entries: Sequence[Mapping[str, Any]], first_position: int = 0
) -> list[int | None]:
    """Resolve bulk entries to internal customer ids (``None`` = not found), by position.

    Each entry is ``{"customer_ids": {name: value}}`` or ``{"internal_id": "123"}``; shapes
    are checked first and an error names the position (counted from ``first_position``,
    for a caller resolving a long list part by part), never a value. IDs are resolved by
    :func:`~customers.selectors.customer_pks_for_ids` (one query, the tie-break that single
    anonymization, the API and tracking use), internal ids in one more query.
    """
    project = actor.project
    known = id_names(project)
    parsed: list[dict[str, str] | int | None] = []
    for position, entry in enumerate(entries, start=first_position):
        where = f"customers[{position}]"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{where} must be an object.")
        keys = set(entry)
        if keys == {"customer_ids"}:
            try:
                parsed.append(clean_ids(entry["customer_ids"], known=known))
            except DomainError as exc:
                raise type(exc)(f"{where}: {exc.message}") from exc
        elif keys == {"internal_id"}:
            raw = entry["internal_id"]
            text = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
            if not text.isdigit() or len(text) > 19:
                parsed.append(None)  # a well-formed request naming nobody we know
            else:
                parsed.append(int(text))
        else:
            raise InvalidInput(f"{where} must have exactly one of 'customer_ids' or 'internal_id'.")

    by_ids = iter(customer_pks_for_ids(actor, [i for i in parsed if isinstance(i, dict)]))
    internal = {i for i in parsed if isinstance(i, int)}
    existing = set(
        Customer.objects.filter(project=project, pk__in=sorted(internal)).values_list(
            "pk", flat=True
        )
    )

    resolved: list[int | None] = []
    for item in parsed:
        if isinstance(item, dict):
            resolved.append(next(by_ids))
        elif isinstance(item, int):
            resolved.append(item if item in existing else None)
        else:
            resolved.append(None)
    return resolved


def _insert_items(job: AnonymizationJob, customers: QuerySet[Customer] | Sequence[int]) -> None:
    """One item per existing customer, the customers share-locked while the items go in.

    ``FOR KEY SHARE`` (PostgreSQL) makes a concurrent merge that deletes one of them wait
    for this commit (and then move the item to its survivor, as merges do), and skips a
    customer whose delete committed first: no foreign-key violation, no 500.
    """
    if isinstance(customers, QuerySet):
        # INSERT ... SELECT: millions of matching customers never pass through Python.
        sql, params = customers.order_by().values("pk").query.sql_with_params()
        _insert_items_where(job, f"c.id IN ({sql})", params)
        return
    unique = list(dict.fromkeys(customers))
    for start in range(0, len(unique), 2000):
        part = unique[start : start + 2000]
        _insert_items_where(job, *ids_in_sql("c.id", part))


def _insert_items_where(job: AnonymizationJob, where: str, params: Sequence[Any]) -> None:
    """``INSERT INTO items SELECT ... FROM customer c WHERE <where>`` (see above)."""
    table = AnonymizationJobItem._meta.db_table
    customer_table = Customer._meta.db_table
    lock = " FOR KEY SHARE OF c" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (job_id, customer_id, done) "  # noqa: S608
            f"SELECT %s, c.id, %s FROM {customer_table} c "
            f"WHERE c.project_id = %s AND {where}{lock}",
            [job.pk, False, job.project_id, *params],
        )


IDEMPOTENCY_WINDOW_SECONDS = 10 * 60
_JOB_CREATE_LOCK = 0x4A4F4243  # "JOBC": pg_advisory_xact_lock(namespace, project)


def anonymization_request_key(*, actor: Principal, source: str, request: Any) -> str:
    """A keyed hash of who asks for what (HMAC with SECRET_KEY: the IDs or filter values in
    ``request`` cannot be guessed back from it). Equal for a double-submitted request."""
    principal = (
        f"user:{actor.user.pk}"
        if actor.user is not None
        else f"key:{actor.api_key.pk}"
        if actor.api_key is not None
        else f"system:{actor.label}"
    )
    message = json.dumps(
        [actor.project.pk, principal, source, request], sort_keys=True, default=str
    ).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _recent_job_with_key(actor: Principal, request_key: str) -> AnonymizationJob | None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_JOB_CREATE_LOCK, actor.project.pk & 0x7FFFFFFF],
            )
    since = timezone.now() - timedelta(seconds=IDEMPOTENCY_WINDOW_SECONDS)
    return (
        AnonymizationJob.objects.filter(
            project=actor.project, request_key=request_key, created_at__gte=since
        )
        .exclude(status=AnonymizationJob.Status.FAILED)
        .order_by("-created_at", "-id")
        .first()
    )


def anonymization_job_create(
    *,
    actor: Principal,
    source: str,
    customers: QuerySet[Customer] | Sequence[int],
    not_found: Sequence[int] = (),
    start: bool = True,
    request_key: str = "",
) -> AnonymizationJob:
    """Create a job over internal customer ids (or a queryset) and queue it after commit.

    ``not_found`` holds positions of request entries that named no customer. The job
    stores internal ids only. ``start=False`` leaves it queued without a Celery message
    (the command line runs it itself; tests send the message to a real worker).
    ``request_key`` (:func:`anonymization_request_key`): a job created with the same key
    in the last ten minutes, not failed, is returned instead of a new one (a double submit
    shows the first job; ``job.reused`` is True then).
    """
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    source = anonymization_source_clean(source)
    return run_retrying(
        lambda: _job_create(
            actor=actor,
            source=source,
            customers=customers,
            not_found=not_found,
            start=start,
            request_key=request_key,
        )
    )


def _job_create(
    *,
    actor: Principal,
    source: str,
    customers: QuerySet[Customer] | Sequence[int],
    not_found: Sequence[int],
    start: bool,
    request_key: str,
) -> AnonymizationJob:
    if request_key:
        existing = _recent_job_with_key(actor, request_key)
        if existing is not None:
            existing.reused = True  # type: ignore[attr-defined]
            return existing
    job = _job_open(
        actor=actor, source=source, not_found=sorted(set(not_found)), request_key=request_key
    )
    if isinstance(customers, QuerySet):
        _insert_items(job, customers)
    else:
        # A customer merged away since the request was resolved (before or while the
        # items go in) is followed to the customer it was merged into; one that is gone
        # entirely is simply not an item.
        wanted = list(dict.fromkeys(int(pk) for pk in customers))
        for _ in range(5):
            _insert_items(job, wanted)
            have = set(
                AnonymizationJobItem.objects.filter(job=job).values_list("customer_id", flat=True)
            )
            survivors = {customer_survivor(actor.project, pk) for pk in wanted if pk not in have}
            wanted = [pk for pk in survivors if pk is not None and pk not in have]
            if not wanted:
                break
    _job_ready(job, actor=actor, details={"not_found": len(job.not_found)}, start=start)
    job.reused = False  # type: ignore[attr-defined]
    return job


def _job_open(*, actor: Principal, source: str, **fields: Any) -> AnonymizationJob:
    """A new job of the actor's project, requested by the actor, without items yet."""
    return AnonymizationJob.objects.create(
        project=actor.project,
        requested_by_user=actor.user,
        requested_by_api_key=actor.api_key,
        requested_by_label=actor.label[:200],
        source=source,
        **fields,
    )


def _job_ready(
    job: AnonymizationJob, *, actor: Principal, details: Mapping[str, Any], start: bool
) -> None:
    """The items are in: count them, audit the creation and (``start``) queue after commit."""
    job.total = AnonymizationJobItem.objects.filter(job=job).count()
    job.save(update_fields=["total"])
    audit_record(
        actor=actor,
        action="anonymization_job.create",
        target_type="anonymization_job",
        target_id=job.pk,
        details={
            "public_id": str(job.public_id),
            "source": job.source,
            "total": job.total,
            **details,
        },
    )
    if start:
        _queue_after_commit(job.pk)


def _queue_after_commit(job_pk: int) -> None:
    """Once this transaction commits, hand the job to whoever runs jobs (customers/tasks.py)."""
    transaction.on_commit(
        lambda: anonymization_job_queued.send(sender=AnonymizationJob, job_id=job_pk)
    )


# Flags added later ----------------------------------------------------------------------------


def on_pii_flagged(*, project: Any, actor: Principal, attributes: Sequence[str], **_: Any) -> None:
    """A catalog save flagged ``attributes`` as PII: customers anonymized before it still
    hold them, so queue a job that removes them.

    Runs once the save has committed (``transaction.on_commit``), in a transaction of its
    own. The items are every anonymized customer of the project, read after the save's
    commit: an anonymization that held the catalog lock before the save had committed by
    then, and one that took it after reads the new catalog itself. Residual: a crash
    between the save's commit and this job's commit loses the clean-up (the values stay
    masked, as every PII value is; unflagging and flagging again redoes it).
    """
    with transaction.atomic():
        _pii_flag_cleanup_job_create(project=project, actor=actor, attributes=attributes)


def _pii_flag_cleanup_job_create(
    *, project: Any, actor: Principal, attributes: Sequence[str]
) -> None:
    anonymized = Customer.objects.filter(project=project, anonymized_at__isnull=False)
    if not anonymized.exists():
        return
    job = _job_open(actor=actor, source=AnonymizationJob.Source.CATALOG)
    _insert_items(job, anonymized)
    _job_ready(job, actor=actor, details={"attributes": list(attributes)}, start=True)


# Running a job --------------------------------------------------------------------------------


def _job_principal(job: AnonymizationJob) -> Principal:
    """The requester, with permissions as they are now (a revoked key stops its job)."""
    if job.requested_by_user is not None:
        try:
            return principal_for_user(job.requested_by_user, job.project)
        except NotFound as exc:
            raise NotFound("The requester is no longer a member of the project.") from exc
    if job.requested_by_api_key is not None:
        key = job.requested_by_api_key
        if not key.is_active:
            raise NotFound("The API key that requested this job has been revoked.")
        return principal_for_api_key(key)
    return principal_for_system(job.project, label=job.requested_by_label or "system")


def anonymization_job_step(*, job_id: int, size: int | None = None) -> bool:
    """Anonymize the job's next chunk and commit its progress with it; False when finished.

    Idempotent: a chunk whose transaction was lost (worker killed) is simply done again,
    and one that committed is never picked again. Domain errors (the requester lost the
    permission) and unexpected errors mark the job failed with a message holding no value.
    """
    size = size or chunk_size()
    try:
        with transaction.atomic():
            job = (
                AnonymizationJob.objects.select_for_update(of=("self",))
                .select_related("project", "requested_by_user", "requested_by_api_key")
                .get(pk=job_id)
            )
            if job.status in (AnonymizationJob.Status.DONE, AnonymizationJob.Status.FAILED):
                return False
            now = timezone.now()
            fields = ["done", "status", "finished_at"]
            if job.status == AnonymizationJob.Status.QUEUED:
                job.status = AnonymizationJob.Status.RUNNING
                job.started_at = now
                fields.append("started_at")
            items = list(
                AnonymizationJobItem.objects.filter(job=job, done=False)
                .order_by("id")
                .values_list("id", "customer_id")[:size]
            )
            if items and job.source == AnonymizationJob.Source.CATALOG:
                # A flag change's clean-up: the product does it, whoever saved the flag.
                anonymized_pii_remove(
                    actor=principal_for_system(job.project, label=job.requested_by_label),
                    customers=[cid for _, cid in items if cid is not None],
                    job=job,
                )
            elif items:
                actor = _job_principal(job)
                customer_anonymize(
                    actor=actor,
                    customers=[cid for _, cid in items if cid is not None],
                    source=job.source,
                    job=job,
                )
            if items:
                # The chunk is every pending item up to the last one read (we hold the job's
                # lock, so nobody else marks items): no id list to send back.
                AnonymizationJobItem.objects.filter(
                    job=job, done=False, pk__lte=items[-1][0]
                ).update(done=True)
                job.done = min(job.total, job.done + len(items))
            if (
                len(items) < size
                and not AnonymizationJobItem.objects.filter(job=job, done=False).exists()
            ):
                job.status = AnonymizationJob.Status.DONE
                job.finished_at = now
                job.done = job.total
            job.save(update_fields=fields)
            return job.status != AnonymizationJob.Status.DONE
    except (OperationalError, InterfaceError):
        raise  # the database went away: let Celery retry; nothing of this chunk committed
    except DomainError as exc:
        _job_fail(job_id, exc.message)
    except Exception as exc:
        # The message may quote stored data (a database error names values): log the type.
        logger.error("Anonymization job %s failed: %s", job_id, type(exc).__name__)
        _job_fail(job_id, f"Internal error ({type(exc).__name__}); see the worker log.")
    return False


def _job_fail(job_id: int, message: str) -> None:
    AnonymizationJob.objects.filter(pk=job_id).exclude(status=AnonymizationJob.Status.DONE).update(
        status=AnonymizationJob.Status.FAILED, error=message[:500], finished_at=timezone.now()
    )


def anonymization_job_run_all(*, job_id: int, size: int | None = None) -> AnonymizationJob:
    """Process every remaining chunk in this process (eager mode, the command line)."""
    while anonymization_job_step(job_id=job_id, size=size):
        pass
    return AnonymizationJob.objects.get(pk=job_id)
