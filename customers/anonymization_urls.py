"""Anonymization pages: profile button, bulk from the filter, jobs (namespace ``customers``)."""

from django.urls import path

from . import anonymization_views as views

urlpatterns = [
    path("<int:pk>/anonymize/", views.CustomerAnonymizeView.as_view(), name="anonymize"),
    path("anonymize/", views.BulkAnonymizeView.as_view(), name="anonymize_bulk"),
    path("jobs/", views.JobListView.as_view(), name="jobs"),
    path("jobs/<uuid:public_id>/", views.JobDetailView.as_view(), name="job"),
    path("jobs/<uuid:public_id>/status.json", views.JobStatusView.as_view(), name="job_status"),
]
