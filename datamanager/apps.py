from django.apps import AppConfig


class DatamanagerConfig(AppConfig):
    name = "datamanager"
    verbose_name = "Data manager"

    def ready(self) -> None:
        from access.signals import project_created

        from . import services

        project_created.connect(services.on_project_created, dispatch_uid="datamanager-defaults")
