"""/data/v2/projects/{token}/data-manager/... (the data manager issue)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
