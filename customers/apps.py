from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from datamanager.signals import pii_flagged

        from . import tasks
        from .services import anonymization_jobs
        from .signals import anonymization_job_queued

        pii_flagged.connect(
            anonymization_jobs.on_pii_flagged, dispatch_uid="customers-pii-flag-cleanup"
        )
        anonymization_job_queued.connect(
            tasks.on_anonymization_job_queued, dispatch_uid="customers-job-enqueue"
        )
