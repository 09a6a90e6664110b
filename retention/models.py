"""Retention policies (how long personal data is kept) and their runs.

A :class:`RetentionPolicy` names what to remove and after how many days: a customer
attribute N days after the customer's last activity, the events of one type (deleted, or
only their PII attributes stripped) older than N days, or whole customers inactive for N
days (anonymized by the existing anonymization job, source ``retention``). A
:class:`RetentionRun` is one execution of one policy with its cutoff fixed when it was
created, so a resumed run removes exactly what its preview counted.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from access.models import Project
from customers.models import AnonymizationJob
from segments.models import Segment


class RetentionPolicy(models.Model):
    class Kind(models.TextChoices):
        ATTRIBUTE = "attribute", "Remove a customer attribute"
        EVENTS_DELETE = "events_delete", "Delete events"
        EVENTS_STRIP = "events_strip", "Strip the PII attributes of events"
        ANONYMIZE = "anonymize", "Anonymize inactive customers"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The customer property (ATTRIBUTE) or event type (EVENTS_*) the policy is about.
    attribute = models.CharField(max_length=128, blank=True, default="")
    event_type = models.CharField(max_length=128, blank=True, default="")
    # Only customers of this saved segment (customer policies); none: every customer.
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    days = models.PositiveIntegerField()
    purpose = models.CharField(max_length=500)
    enabled = models.BooleanField(default=False)
    created_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "attribute", "event_type", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(days__gte=1) & Q(days__lte=36500), name="retention_days_range"
            ),
            models.UniqueConstraint(
                fields=["project", "kind", "attribute", "event_type"],
                name="retention_one_policy_per_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.attribute or self.event_type} after {self.days} d"


class RetentionRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Daily schedule"
        MANUAL = "manual", "Run now"
        CLI = "cli", "Command line"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(
        RetentionPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    # A copy of the policy as it was when the run started (the policy may change later).
    kind = models.CharField(max_length=16, choices=RetentionPolicy.Kind.choices)
    attribute = models.CharField(max_length=128, blank=True, default="")
    event_type = models.CharField(max_length=128, blank=True, default="")
    days = models.PositiveIntegerField()
    # The policy's segment filter as it was at the start ({}: every customer), so neither a
    # changed segment nor a deleted policy widens a running run.
    segment_filter = models.JSONField(default=dict, blank=True)
    cutoff = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by_label = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)  # what the preview counted at the start
    done = models.PositiveIntegerField(default=0)
    held_skipped = models.PositiveIntegerField(default=0)
    job = models.ForeignKey(
        AnonymizationJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "status"], name="retention_run_status")]

    def __str__(self) -> str:
        return f"{self.kind} run {self.public_id} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, int(100 * self.done / self.total))
