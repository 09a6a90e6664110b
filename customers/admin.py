from django.contrib import admin

from access.admin import ReadOnlyForSuperusersAdmin, ReadOnlyInline

from .models import AnonymizationJob, Customer, CustomerId, Event


class CustomerIdInline(ReadOnlyInline):
    model = CustomerId


@admin.register(Customer)
class CustomerAdmin(ReadOnlyForSuperusersAdmin):
    """Superusers only, read-only (they hold Personal data in every project; changes and
    anonymization go through the audited services). Also the reference the customer filter
    is benchmarked against."""

    list_display = ("id", "project", "created_at", "updated_at", "anonymized_at")
    list_filter = ("project",)
    inlines = [CustomerIdInline]


@admin.register(Event)
class EventAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("id", "project", "customer", "event_type", "timestamp")
    raw_id_fields = ("customer",)


@admin.register(AnonymizationJob)
class AnonymizationJobAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("public_id", "project", "source", "status", "total", "done", "created_at")
