from django.apps import AppConfig


class AccountabilityConfig(AppConfig):
    name = "accountability"
    verbose_name = "Accountability for personal data"

    def ready(self) -> None:
        from access.context_processors import NAV_COUNTERS

        from .reveals import reveals_nav_count

        # Admins see recent reveals (and requests waiting) as a number in the navigation.
        NAV_COUNTERS["accountability:reveals"] = reveals_nav_count
