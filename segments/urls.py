"""Saved segments (namespace ``segments``)."""

from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("", views.SegmentListView.as_view(), name="list"),
    path("save/", views.SegmentSaveView.as_view(), name="save"),
    path("<uuid:segment_id>/delete/", views.SegmentDeleteView.as_view(), name="delete"),
]
