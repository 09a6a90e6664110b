"""Retention policies and their runs: every write takes the acting principal and is audited.

A run fixes its cutoff (now minus the policy's days) when it starts and counts what it will
change (the preview's number); :func:`retention_run_step` then changes one chunk and commits
its progress in the same transaction, so a worker killed at any moment leaves no half-done
chunk and the next step (the next Celery message, the daily schedule, or ``manage.py
apply_retention``) continues where the last commit left off. Every chunk re-selects with the
same cutoff, so nothing is changed twice and a customer put on legal hold meanwhile is left
alone. "Anonymize inactive customers" is an anonymization job (source ``retention``): its
progress, receipts, suppression and kill-safety are the anonymization job's.

A run is queued by sending :data:`retention.signals.retention_run_queued` after commit;
``retention/tasks.py`` (connected in ``retention/apps.py``) sends it to the broker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from access.errors import Conflict, InvalidInput, NotFound, PiiFieldRefused
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from access.selectors import principal_for_system
from access.services import audit_record
from customers.filters import CustomerFilter
from customers.filters.sql import check_filter_allowed
from customers.models import AnonymizationJob, Customer, Event, EventType
from customers.services.anonymization_jobs import (
    anonymization_job_create,
    anonymization_job_step,
)
from customers.services.anonymization_sql import JsonWithoutKeys
from datamanager.masking import Masker
from datamanager.models import AttributeKind, CustomerAttribute
from segments.models import Segment
from segments.services import segment_get

from . import selection
from .models import RetentionPolicy, RetentionRun
from .signals import retention_run_queued

Kind = RetentionPolicy.Kind
Status = RetentionRun.Status
CHUNK = 1000
MAX_DAYS = 36500
PURPOSE_MAX_CHARS = 500
# The schedule runs a policy at most once in this long (a late or doubled beat tick).
SCHEDULE_MIN_GAP = dt.timedelta(hours=20)
ACTIVE = (Status.QUEUED, Status.RUNNING)


# Policies ------------------------------------------------------------------------------------


def _require_for(actor: Principal, kind: str) -> None:
    actor.require(Perm.MANAGE_DATA)
    if kind == Kind.ANONYMIZE:
        actor.require(Perm.ANONYMIZE_CUSTOMERS)


def _clean_days(raw: object) -> int:
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise InvalidInput(f"Days must be a whole number from 1 to {MAX_DAYS}.")
    return int(text)


def _clean_purpose(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InvalidInput("Say why the data is kept this long (the purpose).")
    if len(text) > PURPOSE_MAX_CHARS or "\x00" in text:
        raise InvalidInput(f"The purpose must be at most {PURPOSE_MAX_CHARS} characters of text.")
    return text


def _clean_target(
    actor: Principal, kind: str, attribute: object, event_type: object
) -> tuple[str, str]:
    project = actor.project
    if kind == Kind.ATTRIBUTE:
        name = attribute if isinstance(attribute, str) else ""
        if not CustomerAttribute.objects.filter(
            project=project, kind=AttributeKind.PROPERTY, name=name
        ).exists():
            raise InvalidInput("Choose a customer attribute from the Data manager.")
        # Selecting customers by a PII attribute is a filter on it (the one rule).
        Masker.for_principal(actor).check_customer_fields([name], usage="set a retention policy on")
        return name, ""
    if kind in (Kind.EVENTS_DELETE, Kind.EVENTS_STRIP):
        name = event_type if isinstance(event_type, str) else ""
        if not EventType.objects.filter(project=project, name=name).exists():
            raise InvalidInput("Choose an event type from the Data manager.")
        return "", name
    return "", ""


def _clean_segment(actor: Principal, kind: str, raw: object) -> Segment | None:
    if raw in (None, ""):
        return None
    if kind not in (Kind.ATTRIBUTE, Kind.ANONYMIZE):
        raise InvalidInput("Only customer policies can be limited to a segment.")
    segment = segment_get(actor, raw)
    # Applying the segment is filtering by it: refused on a PII attribute without PD.
    check_filter_allowed(actor, CustomerFilter.from_api(segment.definition))
    return segment


def _segment_filter(policy: RetentionPolicy) -> dict[str, Any]:
    return dict(policy.segment.definition) if policy.segment is not None else {}


def _policy_details(policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "policy": policy.pk,
        "segment": str(policy.segment.public_id) if policy.segment is not None else None,
        "kind": policy.kind,
        "attribute": policy.attribute,
        "event_type": policy.event_type,
        "days": policy.days,
        "enabled": policy.enabled,
    }


@transaction.atomic
def retention_policy_create(
    *,
    actor: Principal,
    kind: object,
    days: object,
    purpose: object,
    attribute: object = "",
    event_type: object = "",
    segment: object = "",
    enabled: bool = False,
) -> RetentionPolicy:
    """A new policy of the actor's project (disabled unless ``enabled``); 409 if one for the
    same target exists. ``segment`` (a saved segment's id) limits a customer policy to that
    segment's customers; the actor must be allowed to apply it (PII needs Personal data)."""
    if kind not in Kind.values:
        raise InvalidInput("Choose what the policy removes.")
    kind = str(kind)
    _require_for(actor, kind)
    clean_days = _clean_days(days)
    clean_purpose = _clean_purpose(purpose)
    clean_attribute, clean_event_type = _clean_target(actor, kind, attribute, event_type)
    chosen = _clean_segment(actor, kind, segment)
    if RetentionPolicy.objects.filter(
        project=actor.project, kind=kind, attribute=clean_attribute, event_type=clean_event_type
    ).exists():
        raise Conflict("A policy of this kind for this attribute or event type exists already.")
    policy = RetentionPolicy.objects.create(
        project=actor.project,
        kind=kind,
        attribute=clean_attribute,
        event_type=clean_event_type,
        segment=chosen,
        days=clean_days,
        purpose=clean_purpose,
        enabled=bool(enabled),
        created_by_label=actor.label[:200],
    )
    audit_record(
        actor=actor,
        action="retention.policy_create",
        target_type="retention_policy",
        target_id=policy.pk,
        details=_policy_details(policy),
    )
    return policy


def _policy_locked(actor: Principal, policy_pk: object) -> RetentionPolicy:
    try:
        pk = int(str(policy_pk))
    except ValueError:
        raise NotFound("Retention policy not found.") from None
    policy = (
        RetentionPolicy.objects.select_for_update().filter(project=actor.project, pk=pk).first()
    )
    if policy is None:
        raise NotFound("Retention policy not found.")
    return policy


@transaction.atomic
def retention_policy_set_enabled(
    *, actor: Principal, policy_pk: object, enabled: bool
) -> RetentionPolicy:
    policy = _policy_locked(actor, policy_pk)
    _require_for(actor, policy.kind)
    if policy.enabled != enabled:
        policy.enabled = enabled
        policy.save(update_fields=["enabled", "updated_at"])
        audit_record(
            actor=actor,
            action="retention.policy_enable" if enabled else "retention.policy_disable",
            target_type="retention_policy",
            target_id=policy.pk,
            details=_policy_details(policy),
        )
    return policy


@transaction.atomic
def retention_policy_delete(*, actor: Principal, policy_pk: object) -> None:
    policy = _policy_locked(actor, policy_pk)
    _require_for(actor, policy.kind)
    details = _policy_details(policy)
    policy.delete()
    audit_record(
        actor=actor,
        action="retention.policy_delete",
        target_type="retention_policy",
        target_id=details["policy"],
        details=details,
    )


# Preview -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What the next run of a policy would change, counted now."""

    policy: RetentionPolicy
    count: int | None  # None: not shown to this principal (see counts_hidden)
    unit: str  # "customer" or "event"
    cutoff: dt.datetime
    note: str = ""


def _unit(kind: str) -> str:
    return "customer" if kind in (Kind.ATTRIBUTE, Kind.ANONYMIZE) else "event"


def counts_hidden(
    actor: Principal,
    kind: str,
    attribute: str,
    segment_filter: Any,
    *,
    masker: Masker | None = None,
) -> bool:
    """True if a count for this target would be a count filtered by a PII attribute the
    actor may not see (a policy on ``phone``, a segment on ``email``): not shown then.
    Pass the page's ``masker`` to read the catalog once for every row."""
    masker = masker or Masker.for_principal(actor)
    if kind == Kind.ATTRIBUTE and masker.hides_customer_attribute(attribute):
        return True
    if segment_filter:
        try:
            check_filter_allowed(actor, CustomerFilter.from_api(segment_filter), masker=masker)
        except PiiFieldRefused:
            return True
    return False


def retention_preview(
    actor: Principal, policy: RetentionPolicy, *, masker: Masker | None = None
) -> Preview:
    """Counts only (never a value): how many customers or events the next run changes.
    A count selected by a PII attribute the actor may not see is not computed (``None``)."""
    actor.require(Perm.MANAGE_DATA)
    cutoff = timezone.now() - dt.timedelta(days=policy.days)
    target = policy.attribute or policy.event_type
    unit = _unit(policy.kind)
    if counts_hidden(actor, policy.kind, policy.attribute, _segment_filter(policy), masker=masker):
        note = "Counting these needs the Personal data permission (the policy uses personal data)."
        return Preview(policy=policy, count=None, unit=unit, cutoff=cutoff, note=note)
    note = ""
    if policy.kind == Kind.EVENTS_STRIP and not selection.event_pii_names(
        actor.project, policy.event_type
    ):
        note = "This event type has no PII attributes: nothing to strip."
    count = selection.selected_count(
        actor.project, policy.kind, target, cutoff, _segment_filter(policy)
    )
    return Preview(policy=policy, count=count, unit=unit, cutoff=cutoff, note=note)


def retention_policies(actor: Principal) -> list[RetentionPolicy]:
    actor.require(Perm.MANAGE_DATA)
    return list(RetentionPolicy.objects.filter(project=actor.project).select_related("segment"))


def retention_runs(actor: Principal, limit: int = 20) -> list[RetentionRun]:
    actor.require(Perm.MANAGE_DATA)
    runs = list(RetentionRun.objects.filter(project=actor.project).select_related("job")[:limit])
    masker = Masker.for_principal(actor)
    for run in runs:
        _sync_from_job(run)
        run.counts_hidden = counts_hidden(  # type: ignore[attr-defined]
            actor, run.kind, run.attribute, run.segment_filter, masker=masker
        )
    return runs


# Runs ----------------------------------------------------------------------------------------


def _queue_after_commit(run_pk: int) -> None:
    transaction.on_commit(lambda: retention_run_queued.send(sender=RetentionRun, run_id=run_pk))


@transaction.atomic
def retention_run_start(
    *, actor: Principal, policy_pk: object, trigger: str, start: bool = True
) -> RetentionRun:
    """Start a run of one policy (or return the one still running for it)."""
    policy = _policy_locked(actor, policy_pk)
    _require_for(actor, policy.kind)
    if trigger not in RetentionRun.Trigger.values:
        raise InvalidInput("Unknown retention trigger.")
    running = RetentionRun.objects.filter(policy=policy, status__in=ACTIVE).first()
    if running is not None:
        return running
    now = timezone.now()
    cutoff = now - dt.timedelta(days=policy.days)
    target = policy.attribute or policy.event_type
    frozen = _segment_filter(policy)
    run = RetentionRun.objects.create(
        project=actor.project,
        policy=policy,
        kind=policy.kind,
        attribute=policy.attribute,
        event_type=policy.event_type,
        days=policy.days,
        segment_filter=frozen,
        cutoff=cutoff,
        trigger=trigger,
        requested_by_label=actor.label[:200],
        total=selection.selected_count(actor.project, policy.kind, target, cutoff, frozen),
    )
    if policy.kind == Kind.ANONYMIZE:
        job = anonymization_job_create(
            actor=actor,
            source=AnonymizationJob.Source.RETENTION,
            customers=selection.customers_selected(actor.project, policy.kind, "", cutoff, frozen),
            start=start,
        )
        run.job = job
        run.total = job.total
        run.status = Status.RUNNING
        run.started_at = now
        run.save(update_fields=["job", "total", "status", "started_at"])
    elif start:
        _queue_after_commit(run.pk)
    policy.last_run_at = now
    policy.save(update_fields=["last_run_at"])
    audit_record(
        actor=actor,
        action="retention.run",
        target_type="retention_policy",
        target_id=policy.pk,
        details={
            **_policy_details(policy),
            "run": str(run.public_id),
            "trigger": trigger,
            "total": run.total,
            "job": str(run.job.public_id) if run.job else None,
        },
    )
    return run


def _chunk_apply(run: RetentionRun, size: int) -> int:
    """Change the next ``size`` selected rows; returns how many changed."""
    project = run.project
    if run.kind == Kind.ATTRIBUTE:
        selected = selection.customers_selected(
            project, run.kind, run.attribute, run.cutoff, run.segment_filter
        )
        pks = list(selected.order_by("pk").values_list("pk", flat=True)[:size])
        if not pks:
            return 0
        # Locked, then re-selected in the UPDATE: a customer tracked meanwhile is kept.
        list(Customer.objects.filter(pk__in=pks).select_for_update().values_list("pk"))
        return selected.filter(pk__in=pks).update(
            properties=JsonWithoutKeys(F("properties"), [run.attribute]),
            property_timestamps=JsonWithoutKeys(F("property_timestamps"), [run.attribute]),
        )
    events = selection.events_selected(project, run.kind, run.event_type, run.cutoff)
    pks = list(events.order_by("pk").values_list("pk", flat=True)[:size])
    if not pks:
        return 0
    if run.kind == Kind.EVENTS_DELETE:
        deleted, _ = Event.objects.filter(pk__in=pks).delete()
        return deleted
    names = selection.event_pii_names(project, run.event_type)
    return Event.objects.filter(pk__in=pks).update(
        properties=JsonWithoutKeys(F("properties"), names)
    )


def _finish(run: RetentionRun, status: str, error: str = "") -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.error = error[:500]
    run.started_at = run.started_at or run.finished_at
    run.save(update_fields=["status", "started_at", "finished_at", "error", "done"])
    audit_record(
        actor=principal_for_system(run.project, label="retention"),
        action="retention.run_done" if status == Status.DONE else "retention.run_failed",
        target_type="retention_policy",
        target_id=run.policy_id or 0,
        details={"run": str(run.public_id), "kind": run.kind, "done": run.done},
    )


def retention_run_step(*, run_id: int, size: int = CHUNK) -> bool:
    """Change one chunk of the run and commit its progress with it; False when finished."""
    kind, job_id = RetentionRun.objects.values_list("kind", "job_id").get(pk=run_id)
    if kind == Kind.ANONYMIZE:
        # The job commits its own chunks (customers/services/anonymization_jobs.py).
        more = anonymization_job_step(job_id=job_id) if job_id is not None else False
        with transaction.atomic():
            run = (
                RetentionRun.objects.select_for_update(of=("self",))
                .select_related("project")
                .get(pk=run_id)
            )
            _sync_from_job(run)
            return more and run.status in ACTIVE
    with transaction.atomic():
        run = (
            RetentionRun.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=run_id)
        )
        if run.status not in ACTIVE:
            return False
        if run.status == Status.QUEUED:
            run.status = Status.RUNNING
            run.started_at = timezone.now()
        changed = _chunk_apply(run, size)
        run.done += changed
        if changed < size:
            _finish(run, Status.DONE)
            return False
        run.save(update_fields=["status", "started_at", "done"])
        return True


def _sync_from_job(run: RetentionRun) -> None:
    """An "anonymize inactive" run's progress is its job's; finish the run with the job."""
    if run.kind != Kind.ANONYMIZE or run.status not in ACTIVE:
        return
    job = AnonymizationJob.objects.filter(pk=run.job_id).first() if run.job_id else None
    if job is None:
        _finish(run, Status.FAILED, "The anonymization job of this run is gone.")
        return
    run.done = job.done
    if job.status == AnonymizationJob.Status.DONE:
        _finish(run, Status.DONE)
    elif job.status == AnonymizationJob.Status.FAILED:
        _finish(run, Status.FAILED, job.error or "The anonymization job failed.")
    else:
        run.save(update_fields=["done"])


def retention_run_all(*, run_id: int, size: int = CHUNK) -> RetentionRun:
    """Every remaining chunk in this process (eager mode, the command line)."""
    while retention_run_step(run_id=run_id, size=size):
        pass
    return RetentionRun.objects.get(pk=run_id)


def retention_run_get(actor: Principal, public_id: object) -> RetentionRun:
    actor.require(Perm.MANAGE_DATA)
    run = RetentionRun.objects.filter(project=actor.project, public_id=str(public_id)).first()
    if run is None:
        raise NotFound("Retention run not found.")
    _sync_from_job(run)
    run.counts_hidden = counts_hidden(actor, run.kind, run.attribute, run.segment_filter)  # type: ignore[attr-defined]
    return run


# The schedule --------------------------------------------------------------------------------


def retention_due(project: Project, now: dt.datetime | None = None) -> list[RetentionPolicy]:
    """Enabled policies of ``project`` not run in the last :data:`SCHEDULE_MIN_GAP`."""
    now = now or timezone.now()
    return [
        p
        for p in RetentionPolicy.objects.filter(project=project, enabled=True)
        if p.last_run_at is None or p.last_run_at <= now - SCHEDULE_MIN_GAP
    ]


def retention_unfinished(project: Project) -> list[RetentionRun]:
    return list(RetentionRun.objects.filter(project=project, status__in=ACTIVE))


def retention_apply_due(
    *, start: bool = True, project: Project | None = None
) -> list[RetentionRun]:
    """The daily schedule: resume unfinished runs, then start a run per due policy."""
    projects = (
        [project]
        if project is not None
        else list(
            Project.objects.filter(
                pk__in=RetentionPolicy.objects.filter(enabled=True).values("project_id")
            )
        )
    )
    runs: list[RetentionRun] = []
    for each in projects:
        actor = principal_for_system(each, label="retention schedule")
        for run in retention_unfinished(each):
            _sync_from_job(run)
            if run.status in ACTIVE and start and run.kind != Kind.ANONYMIZE:
                _queue_after_commit(run.pk)
            runs.append(run)
        for policy in retention_due(each):
            runs.append(
                retention_run_start(
                    actor=actor,
                    policy_pk=policy.pk,
                    trigger=RetentionRun.Trigger.SCHEDULE,
                    start=start,
                )
            )
    return runs
