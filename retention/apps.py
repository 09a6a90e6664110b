from django.apps import AppConfig


class RetentionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "retention"
    verbose_name = "Retention policies"

    def ready(self) -> None:
        from . import tasks
        from .signals import retention_run_queued

        retention_run_queued.connect(
            tasks.on_retention_run_queued, dispatch_uid="retention-run-enqueue"
        )
