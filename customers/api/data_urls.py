"""/data/v2/projects/{token}/customers/... reading and export (the HTTP API issue)."""

from django.urls import path

from . import data_views as views
from .personal_data_views import PersonalDataExportView

urlpatterns = [
    path("export-one", views.ExportOneView.as_view(), name="api-customer-export-one"),
    path("attributes", views.AttributesView.as_view(), name="api-customer-attributes"),
    path("events", views.EventsView.as_view(), name="api-customer-events"),
    path("export", views.ExportView.as_view(), name="api-customers-export"),
    path(
        "personal-data-export",
        PersonalDataExportView.as_view(),
        name="api-customer-personal-data-export",
    ),
]
