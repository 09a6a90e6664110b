"""/track/v2/projects/{token}/... (issue: the Exponea-compatible HTTP API)."""

from django.urls import path

from . import tracking_views as views

urlpatterns = [
    path("customers", views.CustomerUpdateView.as_view(), name="api-track-customer"),
    path("customers/events", views.EventTrackView.as_view(), name="api-track-event"),
    path("batch", views.BatchView.as_view(), name="api-track-batch"),
    path("system/time", views.SystemTimeView.as_view(), name="api-system-time"),
]
