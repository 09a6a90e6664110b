"""The attribute catalog: which customer and event attributes exist, their types and PII flags."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from access.models import Project


class AttributeType(models.TextChoices):
    """Exponea's attribute types."""

    STRING = "string", "String"
    LONGTEXT = "longtext", "Long text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    DATE = "date", "Date"
    DATETIME = "datetime", "Datetime"
    LIST = "list", "List"
    URL = "url", "URL"


class AttributeKind(models.TextChoices):
    ID = "id", "ID"
    PROPERTY = "property", "Property"


NAME_MAX = 128


class SearchIndexState(models.TextChoices):
    """Where a searchable property's own index stands (datamanager/search_indexes.py)."""

    NONE = "", "No index"
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class CustomerAttribute(models.Model):
    """A customer ID name (``registered``, ``cookie``) or property name, with its PII flag."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="customer_attributes"
    )
    name = models.CharField(max_length=NAME_MAX)
    kind = models.CharField(max_length=10, choices=AttributeKind.choices)
    # Hard IDs identify one customer (one value each); soft IDs (cookies) may be many.
    hard = models.BooleanField(default=False)
    type = models.CharField(
        max_length=10, choices=AttributeType.choices, default=AttributeType.STRING
    )
    description = models.CharField(max_length=500, blank=True)
    pii = models.BooleanField(default=False)
    # An admin marked this property "searchable": on PostgreSQL it gets a trigram index of
    # its own, so "contains" and "starts with" read an index instead of every customer.
    searchable = models.BooleanField(default=False)
    search_index_state = models.CharField(
        max_length=10, choices=SearchIndexState.choices, default=SearchIndexState.NONE, blank=True
    )
    # First time a value was tracked; null while the attribute is only declared.
    first_tracked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="customer_attribute_unique_name"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="customer_attribute_name_not_empty"),
            models.CheckConstraint(
                condition=Q(kind__in=AttributeKind.values), name="customer_attribute_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(type__in=AttributeType.values), name="customer_attribute_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(hard=False) | Q(kind=AttributeKind.ID),
                name="customer_attribute_hard_is_id",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_id(self) -> bool:
        return self.kind == AttributeKind.ID


class EventType(models.Model):
    """A kind of event (``purchase``, ``page_visit``) tracked in a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="event_types")
    name = models.CharField(max_length=NAME_MAX)
    description = models.CharField(max_length=500, blank=True)
    # System event types (``anonymization``) are tracked by the product itself.
    system = models.BooleanField(default=False)
    first_tracked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="event_type_unique_name"),
            models.CheckConstraint(condition=~Q(name=""), name="event_type_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class EventAttribute(models.Model):
    """An attribute of one event type, with its PII flag."""

    event_type = models.ForeignKey(EventType, on_delete=models.CASCADE, related_name="attributes")
    name = models.CharField(max_length=NAME_MAX)
    type = models.CharField(
        max_length=10, choices=AttributeType.choices, default=AttributeType.STRING
    )
    description = models.CharField(max_length=500, blank=True)
    pii = models.BooleanField(default=False)
    # An admin gave this attribute a filter index (datamanager/event_indexes.py): on
    # PostgreSQL its values of this event type are indexed for the customer filter.
    filter_indexed = models.BooleanField(default=False)
    filter_index_state = models.CharField(
        max_length=10, choices=SearchIndexState.choices, default=SearchIndexState.NONE, blank=True
    )
    first_tracked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_type", "name"], name="event_attribute_unique_name"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="event_attribute_name_not_empty"),
            models.CheckConstraint(
                condition=Q(type__in=AttributeType.values), name="event_attribute_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type.name}.{self.name}"
