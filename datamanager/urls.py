"""/projects/<token>/data-manager/: the Data manager page and its "Add ID" form."""

from django.urls import path

from . import event_index_views, search_views, views

app_name = "datamanager"

urlpatterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
    path("ids/", views.CustomerIdAddView.as_view(), name="id_create"),
    path("searchable/", search_views.SearchableView.as_view(), name="searchable"),
    path("event-indexes/", event_index_views.EventIndexView.as_view(), name="event_index"),
]
