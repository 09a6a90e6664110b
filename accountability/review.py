"""Access review and privacy overview: who can see personal data, when they last did, and
the project's privacy figures.

The review lists every member and active API key holding Personal data or the access
log, through which role or direct grant, and when each last appeared in the access log.
"Remove access" goes through the access services (direct grant off, roles that give
Personal data removed, key revoked), which check the actor and write the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from access.errors import InvalidInput
from access.models import ApiKey, AuditEvent
from access.permissions import Perm
from access.principal import Principal
from access.selectors import (
    api_key_in_project,
    member_user,
    members_for_project,
    role_permissions_map,
)
from access.services import (
    api_key_revoke,
    audit_record,
    member_roles_set,
    member_set_direct_grant,
)
from datamanager.models import AttributeKind, CustomerAttribute, EventAttribute
from datamanager.suggestions import pii_suggestion

from .models import AccessReview, Channel, PersonalDataAccess, TemporaryReveal, TrailVerification

MAX_NOTE_CHARS = 2000
OVERVIEW_DAYS = 30


@dataclass
class Holder:
    """One member or key that can see personal data or the access log."""

    kind: str  # "member" or "key"
    pk: int
    label: str
    personal_data_via: list[str] = field(default_factory=list)
    access_log_via: list[str] = field(default_factory=list)
    last_seen: dt.datetime | None = None

    @property
    def personal_data(self) -> bool:
        return bool(self.personal_data_via)


def access_holders(principal: Principal) -> list[Holder]:
    """Members and active keys with Personal data or ``view_access_log``, in a fixed
    number of queries, with the time each last appeared in the access log."""
    principal.require(Perm.MANAGE_ACCESS)
    project = principal.project
    role_perms = role_permissions_map(project)
    holders: list[Holder] = []
    for row in members_for_project(principal):
        via: dict[Perm, list[str]] = {Perm.VIEW_PERSONAL_DATA: [], Perm.VIEW_ACCESS_LOG: []}
        for perm, names in via.items():
            names.extend(f"role {r.name}" for r in row.roles if perm in role_perms.get(r.pk, ()))
            if perm in row.direct:
                names.append("direct grant")
        if row.user.is_superuser:
            for names in via.values():
                names.append("superuser")
        if any(via.values()):
            holders.append(
                Holder(
                    kind="member",
                    pk=row.user.pk,
                    label=row.user.get_username(),
                    personal_data_via=via[Perm.VIEW_PERSONAL_DATA],
                    access_log_via=via[Perm.VIEW_ACCESS_LOG],
                )
            )
    keys = ApiKey.objects.filter(project=project, revoked_at__isnull=True).order_by("name", "id")
    for key in keys:
        if key.can_view_personal_data or key.can_view_access_log:
            holders.append(
                Holder(
                    kind="key",
                    pk=key.pk,
                    label=f"{key.name} ({key.key_id})",
                    personal_data_via=["key permission"] if key.can_view_personal_data else [],
                    access_log_via=["key permission"] if key.can_view_access_log else [],
                )
            )
    entries = PersonalDataAccess.objects.filter(project=project)
    by_user = dict(
        entries.filter(actor_user__isnull=False)
        .values("actor_user")
        .annotate(last=Max("created_at"))
        .values_list("actor_user", "last")
    )
    by_key = dict(
        entries.filter(actor_api_key__isnull=False)
        .values("actor_api_key")
        .annotate(last=Max("created_at"))
        .values_list("actor_api_key", "last")
    )
    for holder in holders:
        holder.last_seen = (by_user if holder.kind == "member" else by_key).get(holder.pk)
    return holders


def access_remove(*, actor: Principal, kind: str, pk: Any) -> str:
    """Remove a holder's Personal data: a member loses the direct grant and every role that
    gives it; a key is revoked. Returns what was done, for the page's message."""
    actor.require(Perm.MANAGE_ACCESS)
    if kind == "key":
        key = api_key_in_project(actor, pk)
        api_key_revoke(actor=actor, api_key=key)
        return f"API key {key.name} was revoked."
    if kind != "member":
        raise InvalidInput("Say whether a member or an API key loses access.")
    user = member_user(actor, pk)
    row = next(r for r in members_for_project(actor) if r.user.pk == user.pk)
    role_perms = role_permissions_map(actor.project)
    keep = [r for r in row.roles if Perm.VIEW_PERSONAL_DATA not in role_perms.get(r.pk, ())]
    with transaction.atomic():
        if Perm.VIEW_PERSONAL_DATA in row.direct:
            member_set_direct_grant(
                actor=actor, user=user, perm=Perm.VIEW_PERSONAL_DATA, granted=False
            )
        if len(keep) != len(row.roles):
            member_roles_set(actor=actor, user=user, roles=keep)
    return f"{user.get_username()} can no longer see personal data."


def access_review_record(*, actor: Principal, note: Any) -> AccessReview:
    """Record that the access review was done (who, when, a note), and audit it."""
    actor.require(Perm.MANAGE_ACCESS)
    text = str(note or "").strip()
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidInput(f"The note may be at most {MAX_NOTE_CHARS} characters.")
    holders = sum(1 for h in access_holders(actor) if h.personal_data)
    with transaction.atomic():
        review = AccessReview(
            project=actor.project, reviewer_label=actor.label[:200], note=text, holders=holders
        )
        review.save(force_insert=True)
        audit_record(
            actor=actor,
            action="access_review.record",
            target_type="access_review",
            target_id=review.pk,
            details={"holders": holders},
        )
    return review


def access_review_last(project: Any) -> AccessReview | None:
    return AccessReview.objects.filter(project=project).order_by("-created_at", "-id").first()


def trail_verification_last() -> TrailVerification | None:
    """The last run of ``verify_audit_trail`` (the trail is installation-wide)."""
    return TrailVerification.objects.order_by("-created_at", "-id").first()


# The privacy overview ----------------------------------------------------------------------


@dataclass
class DailySeries:
    """A count per day over the overview's window, oldest first, with its SVG geometry."""

    label: str
    days: list[dt.date]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    def bars(self, *, width: int = 300, height: int = 60) -> list[dict[str, Any]]:
        """One rectangle per day for a server-rendered SVG chart (no script, no CDN)."""
        n = len(self.counts) or 1
        step = width / n
        top = self.peak or 1
        out = []
        for i, (day, count) in enumerate(zip(self.days, self.counts, strict=True)):
            h = round(count / top * (height - 2), 1) if count else 0
            out.append(
                {
                    "x": round(i * step + 1, 1),
                    "y": round(height - h, 1),
                    "w": round(max(step - 2, 1), 1),
                    "h": h,
                    "day": day,
                    "count": count,
                }
            )
        return out


def _daily(qs: Any, field_name: str, days: list[dt.date]) -> list[int]:
    since = timezone.make_aware(dt.datetime.combine(days[0], dt.time.min))
    rows = (
        qs.filter(**{f"{field_name}__gte": since})
        .annotate(day=TruncDate(field_name))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    counts = {(d.date() if isinstance(d, dt.datetime) else d): n for d, n in rows}
    return [counts.get(day, 0) for day in days]


def privacy_overview(principal: Principal) -> dict[str, Any]:
    """The figures of the privacy overview page (``view_access_log``)."""
    principal.require(Perm.VIEW_ACCESS_LOG)
    project = principal.project
    today = timezone.localdate()
    days = [today - dt.timedelta(days=OVERVIEW_DAYS - 1 - i) for i in range(OVERVIEW_DAYS)]
    reveals = TemporaryReveal.objects.filter(project=project, granted_at__isnull=False)
    anonymizations = AuditEvent.objects.filter(
        project=project, action__startswith="customer.anonymize"
    )
    access = PersonalDataAccess.objects.filter(project=project)
    customer_attrs = list(CustomerAttribute.objects.filter(project=project))
    event_attrs = list(
        EventAttribute.objects.filter(event_type__project=project, event_type__system=False)
    )
    # Suggestions by name and type only (the Data manager also samples values).
    waiting = sum(
        1
        for a in customer_attrs
        if not a.pii and pii_suggestion(name=a.name, type=a.type, is_id=a.kind == AttributeKind.ID)
    ) + sum(1 for a in event_attrs if not a.pii and pii_suggestion(name=a.name, type=a.type))
    return {
        "flagged_customer": sum(1 for a in customer_attrs if a.pii),
        "flagged_event": sum(1 for a in event_attrs if a.pii),
        "suggestions_waiting": waiting,
        "series": [
            DailySeries("Temporary reveals", days, _daily(reveals, "granted_at", days)),
            DailySeries("Anonymizations", days, _daily(anonymizations, "created_at", days)),
            DailySeries("Personal-data accesses", days, _daily(access, "created_at", days)),
        ],
        "reveal_channel": Channel.REVEAL,
        "last_review": access_review_last(project),
        "last_verification": trail_verification_last(),
    }
