"""/data/v2/projects/{token}/customers/... reading and export (the HTTP API issue)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
