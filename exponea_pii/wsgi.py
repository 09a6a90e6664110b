import os

from django.core.wsgi import get_wsgi_application

from exponea_pii.env import exit_on_missing_setting

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.settings")
# A missing SECRET_KEY is one line on stderr; exit code 4 is gunicorn's "App failed to load",
# which stops the arbiter instead of respawning workers that fail the same way.
application = exit_on_missing_setting(get_wsgi_application, exit_code=4)
