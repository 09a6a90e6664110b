from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from .models import ApiKey, AuditEvent, Membership, Project, Role


@admin.register(Project)
class ProjectAdmin(GuardedModelAdmin):
    list_display = ("name", "token", "created_at")
    search_fields = ("name",)
    readonly_fields = ("token",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "created_at")
    list_filter = ("project",)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "builtin")
    list_filter = ("project", "builtin")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "key_id", "revoked_at", "last_used_at")
    list_filter = ("project",)
    exclude = ("secret_hash",)
    readonly_fields = ("key_id",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "project", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
