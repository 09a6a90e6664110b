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
    # Temporary reveals (break-glass).
    path("reveals/", views.RevealListView.as_view(), name="reveals"),
    path("reveals/policy/", views.RevealPolicyView.as_view(), name="reveal_policy"),
    path(
        "reveals/customers/<int:pk>/",
        views.RevealRequestView.as_view(),
        name="reveal_request",
    ),
    path(
        "reveals/<int:reveal_id>/approve/",
        views.RevealDecideView.as_view(approve=True),
        name="reveal_approve",
    ),
    path(
        "reveals/<int:reveal_id>/deny/",
        views.RevealDecideView.as_view(approve=False),
        name="reveal_deny",
    ),
    path("reveals/<int:reveal_id>/end/", views.RevealEndView.as_view(), name="reveal_end"),
    # Access review and privacy overview.
    path("review/", views.AccessReviewView.as_view(), name="review"),
    path("review.csv", views.AccessReviewCsvView.as_view(), name="review_csv"),
    path("review/remove/", views.AccessRemoveView.as_view(), name="review_remove"),
    path("review/record/", views.AccessReviewRecordView.as_view(), name="review_record"),
    path("overview/", views.PrivacyOverviewView.as_view(), name="overview"),
]
