"""Consent categories per project (Exponea's "Privacy management > Consents").

A customer's consent *state* is not stored: it is derived from their ``consent`` events
(Exponea's model, ``docs/tracking-consent``), so every tracking path (single calls,
``/batch``, imports) updates it without a hook, and the history is the events themselves.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from access.models import Project


class ConsentCategory(models.Model):
    """A category (``newsletter``): its ``name`` is the id tracked in ``category``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    # Processing under legitimate interest: allowed until the customer objects (rejects).
    legitimate_interest = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="consent_category_unique"),
            models.CheckConstraint(
                condition=Q(name__regex=r"^[a-z0-9_][a-z0-9_.-]{0,99}$"),
                name="consent_category_name_format",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()
