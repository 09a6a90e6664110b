"""/data/v2/projects/{token}/consent/..."""

from django.urls import path

from . import api_views

urlpatterns = [
    path("categories", api_views.ConsentCategoriesView.as_view(), name="api-consent-categories"),
]
