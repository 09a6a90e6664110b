"""/track/v2/projects/{token}/... (issue: the Exponea-compatible HTTP API)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
