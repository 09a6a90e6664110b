"""Django's admin: a read-only window for superusers, never a way around the services.

Every change to projects, members, roles, grants, API keys and the audit log goes through
:mod:`access.services`, which applies the grant rule and the last-admin guard and writes the
audit log. The admin therefore only *shows* these tables, and only to active superusers
(who hold every permission in every project, Personal data included, so showing raw
values to them is no wider than the app's own pages). Guardian's object-permission pages
are not mounted: a grant made there would skip the rules and the audit log.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from .models import ApiKey, AuditEvent, Membership, Project, Role


def is_admin_viewer(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and getattr(user, "is_superuser", False))


class ReadOnlyForSuperusersAdmin(admin.ModelAdmin):
    """No add, change or delete for anyone; view for active superusers only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin_viewer(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin_viewer(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin_viewer(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("name", "token", "created_at")
    search_fields = ("name",)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("user", "project", "created_at")
    list_filter = ("project",)


@admin.register(Role)
class RoleAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("name", "project", "builtin")
    list_filter = ("project", "builtin")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("name", "project", "key_id", "revoked_at", "last_used_at")
    list_filter = ("project",)
    exclude = ("secret_hash",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyForSuperusersAdmin):
    list_display = ("created_at", "project", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action",)


# Roles are Django groups: editing a user's groups or a group's permissions in the admin
# would grant project permissions past the services. Groups are not shown at all; users
# are managed by superusers only, without the groups and permissions fields.
admin.site.unregister(Group)
admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class AccountAdmin(UserAdmin):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Status", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    list_filter = ("is_staff", "is_superuser", "is_active")
    filter_horizontal = ()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin_viewer(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin_viewer(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_admin_viewer(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin_viewer(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin_viewer(request)
