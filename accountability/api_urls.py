"""/data/v2/projects/{token}/customers/access-history."""

from django.urls import path

from . import api

urlpatterns = [
    path("access-history", api.AccessHistoryView.as_view(), name="api-customer-access-history"),
]
