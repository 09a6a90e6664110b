from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from datamanager.signals import pii_flagged

        from .services import anonymization

        pii_flagged.connect(anonymization.on_pii_flagged, dispatch_uid="customers-pii-flag-cleanup")
