"""Signals of the customers app, so that a lower module need not import a higher one."""

from django.dispatch import Signal

# Sent after the commit that created (queued) an anonymization job, with ``job_id``. The
# receiver, connected in customers/apps.py, is customers/tasks.py: it sends the job to the
# broker, and the job services (customers/services/anonymization_jobs.py) never import the
# Celery entry points that call them.
anonymization_job_queued = Signal()
