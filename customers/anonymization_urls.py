"""Anonymization pages: profile button, bulk from the filter, jobs (the anonymization issue)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
