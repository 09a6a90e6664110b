from django.contrib import admin

from .models import CustomerAttribute, EventAttribute, EventType


@admin.register(CustomerAttribute)
class CustomerAttributeAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "kind", "type", "pii")
    list_filter = ("project", "kind", "pii")


class EventAttributeInline(admin.TabularInline):
    model = EventAttribute
    extra = 0


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "system")
    list_filter = ("project",)
    inlines = [EventAttributeInline]
