"""/data/v2/projects/{token}/data-manager/... (read the catalog, change PII flags)."""

from django.urls import path

from . import views

urlpatterns = [
    path("catalog", views.CatalogView.as_view(), name="datamanager-api-catalog"),
]
