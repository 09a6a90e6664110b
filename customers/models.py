"""Customers, their external IDs, their events, and anonymization jobs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from access.models import Project
from datamanager.models import EventType

# Foreign keys with db_index=False below are served by a composite index that starts with the
# same column (customer_project_id, customer_id_by_customer and the unique (project, name,
# value), event_customer_time, event_project_type_time; on PostgreSQL also
# event_type_time_customer): Django's single-column index on them only cost every insert
# and every non-HOT update (ingest: 7 indexes per event row, 4 since issue 14).


class Customer(models.Model):
    """A customer: flexible properties in JSON; identities live in :class:`CustomerId`."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="customers", db_index=False
    )
    properties = models.JSONField(default=dict, blank=True)
    # Per-property update time (seconds since the epoch), so an older update never wins.
    property_timestamps = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    anonymized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "id"], name="customer_project_id"),
            models.Index(fields=["project", "-updated_at", "-id"], name="customer_project_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(anonymized_at__isnull=True) | Q(anonymized_at__gte=F("created_at")),
                name="customer_anonymized_after_created",
            ),
        ]

    def __str__(self) -> str:
        # Internal id only: a customer's string form must never carry a PII value.
        return f"Customer #{self.pk}"

    @property
    def is_anonymized(self) -> bool:
        return self.anonymized_at is not None


class CustomerId(models.Model):
    """One external ID of a customer (``registered`` = e-mail, ``cookie`` = a browser id)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="external_ids", db_index=False
    )
    name = models.CharField(max_length=128)
    value = models.CharField(max_length=1024)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name", "value"], name="customer_id_unique_value"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="customer_id_name_not_empty"),
            models.CheckConstraint(condition=~Q(value=""), name="customer_id_value_not_empty"),
        ]
        indexes = [models.Index(fields=["customer", "name"], name="customer_id_by_customer")]

    def __str__(self) -> str:
        return f"{self.name} of customer #{self.customer_id}"


class Event(models.Model):
    """Something a customer did, with JSON properties. Kept (minus PII) by anonymization."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    event_type = models.ForeignKey(
        EventType, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # The profile timeline: newest first per customer.
            models.Index(fields=["customer", "-timestamp", "-id"], name="event_customer_time"),
            # Per-type scans: "has done purchase in the last 30 days", data manager samples.
            models.Index(
                fields=["project", "event_type", "timestamp"], name="event_project_type_time"
            ),
        ]

    def __str__(self) -> str:
        return f"Event #{self.pk}"


class AnonymizationJob(models.Model):
    """A bulk anonymization. Stores internal customer ids only, never an external ID value."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        APP = "app", "App"
        API = "api", "API"
        BULK_API = "bulk_api", "Bulk API"
        CLI = "cli", "Command line"
        # Not an anonymization: removes newly flagged PII from customers anonymized earlier.
        CATALOG = "catalog", "PII flag change"
        # A retention policy's "anonymize customers inactive for N days" (retention/).
        RETENTION = "retention", "Retention policy"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="anonymization_jobs"
    )
    requested_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_api_key = models.ForeignKey(
        "access.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    not_found = models.JSONField(default=list, blank=True)  # positions in the request
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The Celery chain running the job holds ``lease`` and bumps ``heartbeat_at`` per chunk;
    # a running job whose heartbeat stopped is stalled (customers/services/job_lease.py).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease = models.CharField(max_length=32, blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # A keyed hash (HMAC) of who asked for what: a second identical submit within minutes
    # gets this job back instead of a new one (double-click). Never an ID value.
    request_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "request_key", "-created_at"], name="job_request_key")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(done__lte=F("total")), name="job_done_le_total"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="job_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Anonymization job {self.public_id}"

    @property
    def percent(self) -> int:
        if self.total == 0:
            return 100 if self.status == self.Status.DONE else 0
        return int(self.done * 100 / self.total)


class AnonymizationJobItem(models.Model):
    """One customer of a job, by internal id; ``done`` commits with the chunk that did it."""

    job = models.ForeignKey(AnonymizationJob, on_delete=models.CASCADE, related_name="items")
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, related_name="+")
    done = models.BooleanField(default=False)
    # Skipped: the customer was on legal hold when its chunk ran (not anonymized).
    held = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "customer"], name="job_item_unique_customer")
        ]
        indexes = [models.Index(fields=["job", "done", "id"], name="job_item_pending")]

    def __str__(self) -> str:
        return f"Item #{self.pk} of job #{self.job_id}"


class CustomerListPreference(models.Model):
    """The columns a user chose for the customer filter, per project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    columns = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="list_preference_unique")
        ]

    def __str__(self) -> str:
        return f"Columns of user #{self.user_id} in project #{self.project_id}"


class ErasureSettings(models.Model):
    """Per-project switches of the erasure safeguards; a project without a row has both on."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="+")
    # Replace a removed value found inside a non-PII attribute (a url, a note) with ******.
    remove_leftovers = models.BooleanField(default=True)
    # Keep keyed hashes of an anonymized customer's hard IDs and refuse tracking with them.
    suppress_erased_ids = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Erasure settings of project #{self.project_id}"


class LegalHold(models.Model):
    """A customer that must not be anonymized (or retained away) until the hold is lifted.

    The reason is a member's note about the case (a litigation reference), not customer data.
    Lifting a hold deletes the row; the audit log keeps both events.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="legal_hold")
    reason = models.CharField(max_length=500)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="legal_hold_reason_not_empty")
        ]

    def __str__(self) -> str:
        return f"Legal hold on customer #{self.customer_id}"


class ErasureReceipt(models.Model):
    """What one anonymization of one customer removed: names and counts, never a value.

    ``leftovers`` lists ``{"where": "property"|"event", "event_type": str, "attribute": str,
    "count": int}``: a removed value was found inside that non-PII attribute (``count``
    rows), and ``leftovers_cleared`` says whether the matches were replaced by ``******``.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="receipts")
    job = models.ForeignKey(
        AnonymizationJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="receipts"
    )
    source = models.CharField(max_length=10)
    actor_label = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    properties = models.JSONField(default=list, blank=True)  # PII property names removed
    id_names = models.JSONField(default=list, blank=True)  # ID names removed
    event_attributes = models.JSONField(default=list, blank=True)  # ["type", "attr"] pairs
    events_cleared = models.PositiveIntegerField(default=0)
    leftovers = models.JSONField(default=list, blank=True)
    leftovers_cleared = models.BooleanField(default=False)
    ids_suppressed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="receipt_by_customer")]

    def __str__(self) -> str:
        return f"Erasure receipt {self.public_id}"


class SuppressedIdentity(models.Model):
    """A keyed hash (HMAC, erasure_ledger.hard_id_hash) of a hard ID value of an anonymized
    customer: tracking that carries the value is refused instead of re-creating a profile."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    value_hash = models.CharField(max_length=64)
    id_name = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    # Tracking calls refused because of this value (the suppression counter).
    refused = models.PositiveBigIntegerField(default=0)
    last_refused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "value_hash"], name="suppressed_identity_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Suppressed {self.id_name} in project #{self.project_id}"
