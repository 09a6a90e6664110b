from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access management"

    def ready(self) -> None:
        from . import login_throttle  # noqa: F401  # connects the failed-sign-in counter
