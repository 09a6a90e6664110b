from django.urls import include, path

app_name = "customers"

urlpatterns: list = [
    # Customer filter, profile and export (the customer pages issue) go here.
    path("", include("customers.anonymization_urls")),
]
