"""Who was shown whose personal data (the access log), and the seals that chain both logs.

An access entry names the principal, the channel, the customers (internal ids) and the PII
attribute *names* that were shown unmasked; it never holds a value. Like the audit log it
is append-only in the model. A :class:`TrailSeal` covers a batch of consecutive entries of
one log (the audit log or this one) with a digest per entry and a hash chained to the
previous seal, so an edited, removed or inserted row is found by ``verify_audit_trail``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from access.models import ApiKey, Project


class Channel(models.TextChoices):
    PAGE = "page", "Page"
    EXPORT = "export", "Export"
    API = "api", "API"
    REVEAL = "reveal", "Temporary reveal"


class AppendOnly(models.Model):
    """Rows are inserted once and never changed or deleted through the ORM."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__} rows are append-only.")


class PersonalDataAccess(AppendOnly):
    """One request that showed unmasked personal data to a principal. Names, never values."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept when the user or key is later deleted, as in the audit log.
    actor_label = models.CharField(max_length=200)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # What was read: "profile", "list", "export.csv", "api.export-one", ...
    view = models.CharField(max_length=64)
    # Internal ids; empty for a large export (then filter + customer_count + export_id).
    customer_ids = models.JSONField(default=list, blank=True)
    customer_count = models.PositiveIntegerField(default=0)
    # PII attribute names shown unmasked: customer properties / IDs, "event_type.attribute".
    attribute_names = models.JSONField(default=list, blank=True)
    # An export's filter as attribute names and event types (a filter's values may be PII).
    filter = models.JSONField(default=dict, blank=True)
    export_id = models.UUIDField(null=True, blank=True)
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="pd_access_project_time")]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(actor_user__isnull=False) & Q(actor_api_key__isnull=False)),
                name="pd_access_single_actor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.channel} {self.view}"


class TrailLog(models.TextChoices):
    AUDIT = "audit", "Audit log"
    ACCESS = "access", "Personal-data access log"


class TrailSeal(AppendOnly):
    """A sealed batch of one log: the digest of every entry in ``(previous last_id, last_id]``
    and a hash over them and the previous seal's hash."""

    log = models.CharField(max_length=16, choices=TrailLog.choices)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    # [[entry id, sha256 hex of its content], ...] in id order.
    digests = models.JSONField(default=list)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["log", "last_id"]
        constraints = [
            models.UniqueConstraint(fields=["log", "last_id"], name="trail_seal_unique_end"),
        ]

    def __str__(self) -> str:
        return f"{self.log} seal {self.first_id}..{self.last_id}"


class RevealPolicy(models.Model):
    """A project's choice for temporary reveals: granted at once, or after approval."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="+")
    requires_approval = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_label = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"reveal policy of {self.project_id}"


class RevealStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    ENDED = "ended", "Ended early"


class TemporaryReveal(models.Model):
    """A member's time-limited access to one customer's personal data, with a reason.

    ``customer_id`` is the customer's internal id (no foreign key: this app sits below
    ``customers``). A reveal is in force while ``status`` is granted and ``now`` lies in
    ``[granted_at, expires_at)``; the window is checked on the server at every request.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user_label = models.CharField(max_length=200)
    reason = models.TextField()
    minutes = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=RevealStatus.choices)
    requested_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_label = models.CharField(max_length=200, blank=True)
    granted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["project", "user", "customer_id"], name="reveal_member_customer"),
            models.Index(fields=["project", "-requested_at"], name="reveal_project_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(minutes__gte=5, minutes__lte=60), name="reveal_minutes"
            ),
            models.CheckConstraint(
                condition=~Q(status="granted")
                | Q(granted_at__isnull=False, expires_at__isnull=False),
                name="reveal_granted_has_window",
            ),
        ]

    def __str__(self) -> str:
        return f"reveal {self.pk} of customer {self.customer_id} to {self.user_label}"

    def in_force(self, now: Any) -> bool:
        return (
            self.status == RevealStatus.GRANTED
            and self.granted_at is not None
            and self.expires_at is not None
            and self.granted_at <= now < self.expires_at
        )


class AccessReview(AppendOnly):
    """A completed access review: who recorded it, when, and a note."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    reviewer_label = models.CharField(max_length=200)
    note = models.TextField(blank=True)
    # How many members and keys could see personal data when it was recorded.
    holders = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"access review {self.pk} by {self.reviewer_label}"


class TrailVerification(AppendOnly):
    """One run of ``verify_audit_trail``: when, and whether both chains held."""

    ok = models.BooleanField()
    summary = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return (
            f"trail verification {self.created_at:%Y-%m-%d %H:%M} {'OK' if self.ok else 'FAILED'}"
        )
