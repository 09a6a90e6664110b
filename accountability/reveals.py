"""Temporary reveals ("break-glass"): one customer's personal data, for one member, for a
few minutes, with a stated reason.

A member without Personal data whose role holds ``request_personal_data`` asks with a
reason and a duration (5-60 minutes). The project's :class:`RevealPolicy` decides whether
the reveal is granted at once or waits for a member with ``manage_access``. While it is in
force, the profile of that customer (and only it) is rendered with a Masker holding a
:class:`~datamanager.masking.RevealGrant`; the grant is looked up in the database at every
request (:func:`reveal_masker`), so expiry needs no job and a page left open reveals
nothing new. Every step is audited; every profile view during a reveal is an access-log
entry with channel ``reveal`` and the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from access.errors import Forbidden, InvalidInput, NotFound
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from datamanager.masking import Masker, RevealGrant

from .models import RevealPolicy, RevealStatus, TemporaryReveal

MIN_MINUTES = 5
MAX_MINUTES = 60
DEFAULT_MINUTES = 15
# "At least a sentence": this many characters and words, so "x" or "need it" is refused.
MIN_REASON_CHARS = 20
MIN_REASON_WORDS = 4
MAX_REASON_CHARS = 1000


def reveal_policy(project: Any) -> RevealPolicy:
    """The project's policy (granted at once unless an admin chose approval)."""
    policy = RevealPolicy.objects.filter(project=project).first()
    return policy or RevealPolicy(project=project, requires_approval=False)


def reveal_policy_set(*, actor: Principal, requires_approval: bool) -> RevealPolicy:
    """Choose whether reveals are granted at once or need approval (``manage_access``)."""
    actor.require(Perm.MANAGE_ACCESS)
    with transaction.atomic():
        policy, _ = RevealPolicy.objects.select_for_update().get_or_create(project=actor.project)
        policy.requires_approval = requires_approval
        policy.updated_at = timezone.now()
        policy.updated_by_label = actor.label[:200]
        policy.save(update_fields=["requires_approval", "updated_at", "updated_by_label"])
        audit_record(
            actor=actor,
            action="reveal.policy",
            target_type="project",
            target_id=actor.project.pk,
            details={"requires_approval": requires_approval},
        )
    return policy


def _clean_reason(raw: Any) -> str:
    reason = " ".join(str(raw or "").split())
    if len(reason) < MIN_REASON_CHARS or len(reason.split()) < MIN_REASON_WORDS:
        raise InvalidInput(
            f"Give a reason of at least a sentence ({MIN_REASON_WORDS} words, "
            f"{MIN_REASON_CHARS} characters)."
        )
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"The reason may be at most {MAX_REASON_CHARS} characters.")
    return reason


def _clean_minutes(raw: Any) -> int:
    try:
        minutes = int(str(raw).strip()) if raw not in (None, "") else DEFAULT_MINUTES
    except ValueError:
        raise InvalidInput("The duration must be a whole number of minutes.") from None
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise InvalidInput(f"The duration must be {MIN_MINUTES} to {MAX_MINUTES} minutes.")
    return minutes


def _grant(reveal: TemporaryReveal, now: dt.datetime) -> None:
    reveal.status = RevealStatus.GRANTED
    reveal.granted_at = now
    reveal.expires_at = now + dt.timedelta(minutes=reveal.minutes)


def reveal_request(
    *, actor: Principal, customer_pk: int, reason: Any, minutes: Any = None
) -> TemporaryReveal:
    """Ask to see one customer's personal data; granted at once or pending per the policy.

    The caller has already found the customer in ``actor``'s project (404 otherwise). A
    member who holds Personal data needs no reveal; one without ``request_personal_data``
    may not ask. An open request or reveal for the same customer is returned as it is.
    """
    actor.require(Perm.REQUEST_PERSONAL_DATA)
    if actor.user is None:
        raise Forbidden("Only a signed-in member can ask for a temporary reveal.")
    if actor.can_see_personal_data:
        raise InvalidInput("You can already see personal data in this project.")
    clean_reason = _clean_reason(reason)
    clean_minutes = _clean_minutes(minutes)
    now = timezone.now()
    with transaction.atomic():
        open_ = (
            TemporaryReveal.objects.select_for_update()
            .filter(project=actor.project, user=actor.user, customer_id=customer_pk)
            .filter(status__in=[RevealStatus.PENDING, RevealStatus.GRANTED])
            .order_by("-requested_at", "-id")
        )
        for existing in open_:
            if existing.status == RevealStatus.PENDING or existing.in_force(now):
                return existing
        reveal = TemporaryReveal(
            project=actor.project,
            customer_id=customer_pk,
            user=actor.user,
            user_label=actor.label[:200],
            reason=clean_reason,
            minutes=clean_minutes,
            status=RevealStatus.PENDING,
            requested_at=now,
        )
        granted = not reveal_policy(actor.project).requires_approval
        if granted:
            _grant(reveal, now)
            reveal.decided_at = now
            reveal.decided_by_label = "granted at once (project policy)"
        reveal.save(force_insert=True)
        audit_record(
            actor=actor,
            action="reveal.grant" if granted else "reveal.request",
            target_type="customer",
            target_id=customer_pk,
            details={"reveal_id": reveal.pk, "minutes": clean_minutes, "reason": clean_reason},
        )
        transaction.on_commit(lambda: _nav_count_clear(actor.project.pk))
    return reveal


def _reveal_for_update(actor: Principal, reveal_id: Any) -> TemporaryReveal:
    try:
        pk = int(str(reveal_id))
    except ValueError:
        raise NotFound("Reveal not found.") from None
    reveal = (
        TemporaryReveal.objects.select_for_update().filter(project=actor.project, pk=pk).first()
    )
    if reveal is None:
        raise NotFound("Reveal not found.")
    return reveal


def reveal_decide(*, actor: Principal, reveal_id: Any, approve: bool) -> TemporaryReveal:
    """Approve (the window starts now) or deny a pending request (``manage_access``)."""
    actor.require(Perm.MANAGE_ACCESS)
    with transaction.atomic():
        reveal = _reveal_for_update(actor, reveal_id)
        if reveal.status != RevealStatus.PENDING:
            raise InvalidInput("This request was already decided.")
        if actor.user is not None and actor.user.pk == reveal.user_id:
            raise Forbidden("A member cannot approve their own request.")
        now = timezone.now()
        if approve:
            _grant(reveal, now)
        else:
            reveal.status = RevealStatus.DENIED
        reveal.decided_at = now
        reveal.decided_by_label = actor.label[:200]
        reveal.save()
        audit_record(
            actor=actor,
            action="reveal.approve" if approve else "reveal.deny",
            target_type="customer",
            target_id=reveal.customer_id,
            details={"reveal_id": reveal.pk, "requested_by": reveal.user_label},
        )
        transaction.on_commit(lambda: _nav_count_clear(actor.project.pk))
    return reveal


def reveal_end(*, actor: Principal, reveal_id: Any) -> TemporaryReveal:
    """End a reveal (or withdraw a request) early: its member, or a ``manage_access`` holder."""
    with transaction.atomic():
        reveal = _reveal_for_update(actor, reveal_id)
        own = actor.user is not None and actor.user.pk == reveal.user_id
        if not own:
            actor.require(Perm.MANAGE_ACCESS)
        now = timezone.now()
        if reveal.status not in (RevealStatus.PENDING, RevealStatus.GRANTED) or (
            reveal.status == RevealStatus.GRANTED and not reveal.in_force(now)
        ):
            raise InvalidInput("This reveal is no longer in force.")
        reveal.status = RevealStatus.ENDED
        if reveal.expires_at is not None:
            reveal.expires_at = now
        reveal.decided_at = reveal.decided_at or now
        reveal.save()
        audit_record(
            actor=actor,
            action="reveal.end",
            target_type="customer",
            target_id=reveal.customer_id,
            details={"reveal_id": reveal.pk, "requested_by": reveal.user_label},
        )
        transaction.on_commit(lambda: _nav_count_clear(actor.project.pk))
    return reveal


# Reading ----------------------------------------------------------------------------------


def reveal_in_force(principal: Principal, customer_pk: int) -> TemporaryReveal | None:
    """The principal's reveal of this customer that is in force now, if any: the server's
    check at every request (member, project, customer, status and window). A member whose
    roles no longer hold ``request_personal_data`` loses an open reveal with it."""
    if (
        principal.user is None
        or principal.can_see_personal_data
        or not principal.has(Perm.REQUEST_PERSONAL_DATA)
    ):
        return None
    now = timezone.now()
    return (
        TemporaryReveal.objects.filter(
            project=principal.project,
            user=principal.user,
            customer_id=customer_pk,
            status=RevealStatus.GRANTED,
            granted_at__lte=now,
            expires_at__gt=now,
        )
        .order_by("-expires_at")
        .first()
    )


def reveal_masker(principal: Principal, customer_pk: int) -> Masker:
    """The Masker for one customer's profile: with a :class:`RevealGrant` while the
    principal's reveal of that customer is in force, else the principal's own."""
    reveal = reveal_in_force(principal, customer_pk)
    if reveal is None or reveal.expires_at is None:
        return Masker.for_principal(principal)
    grant = RevealGrant(
        reveal_id=reveal.pk,
        customer_pk=customer_pk,
        reason=reveal.reason,
        expires_at=reveal.expires_at,
    )
    return Masker.for_principal(principal, reveal=grant)


def reveal_pending_for(principal: Principal, customer_pk: int) -> TemporaryReveal | None:
    """The principal's request for this customer that waits for approval, if any."""
    if principal.user is None:
        return None
    return (
        TemporaryReveal.objects.filter(
            project=principal.project,
            user=principal.user,
            customer_id=customer_pk,
            status=RevealStatus.PENDING,
        )
        .order_by("-requested_at")
        .first()
    )


def reveals_for_project(principal: Principal) -> QuerySet[TemporaryReveal]:
    """Every reveal and request of the project, newest first (``view_access_log``)."""
    principal.require(Perm.VIEW_ACCESS_LOG)
    return TemporaryReveal.objects.filter(project=principal.project).order_by(
        "-requested_at", "-id"
    )


NAV_COUNT_TTL = 30  # seconds; every change of a reveal clears it
NAV_COUNT_WINDOW = dt.timedelta(hours=24)


def _nav_count_key(project_pk: int, managing: bool) -> str:
    return f"reveals:nav-count:{project_pk}:{int(managing)}"


def reveals_nav_count(principal: Principal) -> int:
    """The navigation counter: reveals granted in the last 24 hours, plus requests waiting
    for approval for ``manage_access`` holders. Cached briefly (two integers per project):
    it is on every page an admin opens, the profile and the list included."""
    if not principal.has(Perm.VIEW_ACCESS_LOG):
        return 0
    managing = principal.has(Perm.MANAGE_ACCESS)
    key = _nav_count_key(principal.project.pk, managing)
    cached = cache.get(key)
    if cached is not None:
        return int(cached)
    recent = Q(granted_at__gte=timezone.now() - NAV_COUNT_WINDOW)
    if managing:
        recent |= Q(status=RevealStatus.PENDING)
    # One query (granted and pending never overlap: a pending request has no granted_at).
    count = TemporaryReveal.objects.filter(recent, project=principal.project).count()
    cache.set(key, count, NAV_COUNT_TTL)
    return count


def _nav_count_clear(project_pk: int) -> None:
    cache.delete_many([_nav_count_key(project_pk, m) for m in (False, True)])
