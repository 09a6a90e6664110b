"""The personal-data export of one customer (namespace ``customers``)."""

from django.urls import path

from . import personal_data_views as views

urlpatterns = [
    path("<int:pk>/personal-data/", views.PersonalDataPageView.as_view(), name="personal_data"),
    path(
        "<int:pk>/personal-data.json",
        views.PersonalDataJsonView.as_view(),
        name="personal_data_json",
    ),
]
