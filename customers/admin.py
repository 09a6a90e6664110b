from django.contrib import admin

from .models import AnonymizationJob, Customer, CustomerId, Event


class CustomerIdInline(admin.TabularInline):
    model = CustomerId
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Superusers only. Also the reference the customer filter is benchmarked against."""

    list_display = ("id", "project", "created_at", "updated_at", "anonymized_at")
    list_filter = ("project",)
    inlines = [CustomerIdInline]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "customer", "event_type", "timestamp")
    raw_id_fields = ("customer",)


@admin.register(AnonymizationJob)
class AnonymizationJobAdmin(admin.ModelAdmin):
    list_display = ("public_id", "project", "source", "status", "total", "done", "created_at")
