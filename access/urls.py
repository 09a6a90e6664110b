from django.urls import path

from . import views, views_api_keys, views_management

app_name = "access"

urlpatterns = [
    path("", views.ProjectHomeView.as_view(), name="project"),
    # Settings > Access management
    path("settings/team/", views_management.TeamView.as_view(), name="team"),
    path("settings/team/add/", views_management.MemberAddView.as_view(), name="member_add"),
    path(
        "settings/team/create/", views_management.MemberCreateView.as_view(), name="member_create"
    ),
    path(
        "settings/team/<int:user_id>/roles/",
        views_management.MemberRolesView.as_view(),
        name="member_roles",
    ),
    path(
        "settings/team/<int:user_id>/grant/",
        views_management.MemberGrantView.as_view(),
        name="member_grant",
    ),
    path(
        "settings/team/<int:user_id>/remove/",
        views_management.MemberRemoveView.as_view(),
        name="member_remove",
    ),
    path("settings/roles/", views_management.RolesView.as_view(), name="roles"),
    path("settings/roles/create/", views_management.RoleCreateView.as_view(), name="role_create"),
    path(
        "settings/roles/<int:role_id>/", views_management.RoleEditView.as_view(), name="role_edit"
    ),
    path(
        "settings/roles/<int:role_id>/delete/",
        views_management.RoleDeleteView.as_view(),
        name="role_delete",
    ),
    # Settings > API
    path("settings/api/", views_api_keys.ApiKeysView.as_view(), name="api_keys"),
    path("settings/api/create/", views_api_keys.ApiKeyCreateView.as_view(), name="api_key_create"),
    path(
        "settings/api/<int:api_key_id>/rotate/",
        views_api_keys.ApiKeyRotateView.as_view(),
        name="api_key_rotate",
    ),
    path(
        "settings/api/<int:api_key_id>/end-grace/",
        views_api_keys.ApiKeyEndGraceView.as_view(),
        name="api_key_end_grace",
    ),
    path(
        "settings/api/<int:api_key_id>/revoke/",
        views_api_keys.ApiKeyRevokeView.as_view(),
        name="api_key_revoke",
    ),
    path(
        "settings/api/tracking/",
        views_api_keys.TrackingSettingsView.as_view(),
        name="tracking_settings",
    ),
    # Settings > Audit log
    path("settings/audit/", views_management.AuditLogView.as_view(), name="audit"),
    path("settings/audit/export.csv", views_management.AuditCsvView.as_view(), name="audit_csv"),
]
