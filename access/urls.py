from django.urls import path

from . import views

app_name = "access"

urlpatterns = [
    path("", views.ProjectHomeView.as_view(), name="project"),
]
