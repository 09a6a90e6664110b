"""Saved segments: a named customer filter, reusable in the list, exports and bulk jobs.

The filter is stored in its JSON form (:meth:`customers.filters.CustomerFilter.to_api`)
and parsed again each time it is applied, so it is checked like any filter the principal
applying it would write: a segment with a condition on a PII attribute cannot be applied
by a principal without Personal data, whoever saved it.
"""

from __future__ import annotations

import uuid

from django.db import models

from access.models import Project


class Segment(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    definition = models.JSONField(default=dict)
    created_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="segment_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name
