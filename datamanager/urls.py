"""/projects/<token>/data-manager/: the Data manager page and its "Add ID" form."""

from django.urls import path

from . import search_views, views

app_name = "datamanager"

urlpatterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
    path("ids/", views.CustomerIdAddView.as_view(), name="id_create"),
    path("searchable/", search_views.SearchableView.as_view(), name="searchable"),
]
