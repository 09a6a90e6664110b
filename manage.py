#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from exponea_pii.env import MissingSetting, exit_on_missing_setting

    def load_settings() -> None:
        try:
            settings.INSTALLED_APPS  # noqa: B018 (imports the settings module)
        except MissingSetting:
            raise
        except ImproperlyConfigured:
            pass  # anything else: Django's own handling below, as before

    # Load the settings here: a missing SECRET_KEY is one line and exit 1, not a traceback.
    exit_on_missing_setting(load_settings)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
