"""/projects/<token>/data-manager/: the Data manager page."""

from django.urls import path

from . import views

app_name = "datamanager"

urlpatterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
]
