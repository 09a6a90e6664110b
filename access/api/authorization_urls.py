"""/data/v2/projects/{token}/access-keys/... (Exponea's Authorization API)."""

from django.urls import path

from . import authorization_views as views

urlpatterns = [
    path("rotate", views.AccessKeyRotateView.as_view(), name="api-access-keys-rotate"),
    path("revoke", views.AccessKeyRevokeView.as_view(), name="api-access-keys-revoke"),
]
