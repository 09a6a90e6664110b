"""Signals of the retention app, so the services need not import the Celery tasks."""

from django.dispatch import Signal

# Sent after the commit that created (queued) a retention run, with ``run_id``; received by
# retention/tasks.py (connected in retention/apps.py), which sends it to the broker.
retention_run_queued = Signal()
