"""/data/v2/projects/{token}/customers/anonymize... (the anonymization issue)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
