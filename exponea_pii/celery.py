"""Celery application. Without a broker (no REDIS_URL) tasks run eagerly, in-process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.settings")

app = Celery("exponea_pii")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
