"""/data/v2/projects/{token}/customers/anonymize... (Exponea's paths, plus the bulk status)."""

from django.urls import path

from . import anonymize_views as views

urlpatterns = [
    path("anonymize", views.AnonymizeView.as_view(), name="api-customer-anonymize"),
    path("anonymize_bulk", views.AnonymizeBulkView.as_view(), name="api-customers-anonymize-bulk"),
    path(
        "anonymize_bulk/<str:bulk_id>",
        views.AnonymizeBulkStatusView.as_view(),
        name="api-customers-anonymize-bulk-status",
    ),
]
