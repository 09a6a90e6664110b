"""Legal holds, suppression and erasure receipts (namespace ``customers``)."""

from django.urls import path

from . import erasure_views as views

urlpatterns = [
    path("<int:pk>/legal-hold/", views.LegalHoldPlaceView.as_view(), name="hold_place"),
    path("<int:pk>/legal-hold/lift/", views.LegalHoldLiftView.as_view(), name="hold_lift"),
    path("holds/", views.LegalHoldListView.as_view(), name="holds"),
    path("holds/suppression/lift/", views.SuppressionLiftView.as_view(), name="suppression_lift"),
    path("holds/settings/", views.ErasureSettingsView.as_view(), name="erasure_settings"),
    path("receipts/<uuid:receipt_id>.json", views.ReceiptJsonView.as_view(), name="receipt_json"),
]
