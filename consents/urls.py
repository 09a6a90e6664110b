"""/projects/{token}/consents/...: categories and one customer's consents."""

from django.urls import path

from . import views

app_name = "consents"

urlpatterns = [
    path("", views.CategoriesView.as_view(), name="categories"),
    path("create/", views.CategoryCreateView.as_view(), name="category_create"),
    path("<int:category_id>/", views.CategoryEditView.as_view(), name="category_edit"),
    path("<int:category_id>/delete/", views.CategoryDeleteView.as_view(), name="category_delete"),
    path(
        "customers/<int:customer_id>/",
        views.CustomerConsentsView.as_view(),
        name="customer",
    ),
]
