"""/data/v2/projects/{token}/data-manager/... (read the catalog, change PII flags, add IDs)."""

from django.urls import path

from . import id_views, views

urlpatterns = [
    path("catalog", views.CatalogView.as_view(), name="datamanager-api-catalog"),
    path("ids", id_views.CustomerIdCreateView.as_view(), name="datamanager-api-id-create"),
]
