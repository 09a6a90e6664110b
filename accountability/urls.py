from django.urls import path

from . import views

app_name = "accountability"

urlpatterns = [
    path("", views.AccessLogView.as_view(), name="log"),
    path(
        "customers/<int:pk>/",
        views.CustomerAccessHistoryView.as_view(),
        name="customer_history",
    ),
]
