"""The Retention page (namespace ``retention``)."""

from django.urls import path

from . import views

app_name = "retention"

urlpatterns = [
    path("", views.RetentionPageView.as_view(), name="page"),
    path("policies/", views.RetentionPolicyCreateView.as_view(), name="policy_create"),
    path("policies/<int:pk>/enable/", views.RetentionPolicyEnableView.as_view(), name="enable"),
    path("policies/<int:pk>/delete/", views.RetentionPolicyDeleteView.as_view(), name="delete"),
    path("policies/<int:pk>/run/", views.RetentionPolicyRunView.as_view(), name="run_now"),
    path("runs/<uuid:run_id>/", views.RetentionRunView.as_view(), name="run"),
]
