#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from exponea_pii.env import exit_on_missing_setting

    # Load the settings here: a missing SECRET_KEY is one line and exit 1, not a traceback.
    exit_on_missing_setting(lambda: settings.INSTALLED_APPS)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
