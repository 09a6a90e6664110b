from django.contrib import admin

from access.admin import ReadOnlyForSuperusersAdmin, ReadOnlyInline

from .models import CustomerAttribute, EventAttribute, EventType


@admin.register(CustomerAttribute)
class CustomerAttributeAdmin(ReadOnlyForSuperusersAdmin):
    """Read-only: a personal-data flag changed here would skip the Data manager's audit."""

    list_display = ("name", "project", "kind", "type", "pii")
    list_filter = ("project", "kind", "pii")


class EventAttributeInline(ReadOnlyInline):
    model = EventAttribute


@admin.register(EventType)
class EventTypeAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("name", "project", "system")
    list_filter = ("project",)
    inlines = [EventAttributeInline]
