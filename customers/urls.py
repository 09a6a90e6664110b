from django.urls import include, path

from . import views

app_name = "customers"

urlpatterns: list = [
    path("", views.CustomerListView.as_view(), name="list"),
    path("columns/", views.CustomerColumnsView.as_view(), name="columns"),
    path("export.csv", views.CustomerExportCsvView.as_view(), name="export_csv"),
    path("<int:pk>/", views.CustomerDetailView.as_view(), name="detail"),
    path("", include("customers.anonymization_urls")),
    path("", include("customers.erasure_urls")),
    path("", include("customers.personal_data_urls")),
]
