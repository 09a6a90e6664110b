"""Settings for the Celery worker that tests/customers/test_worker_kill.py starts and kills.

The test settings with a real broker (``CELERY_BROKER_URL``: Redis or RabbitMQ) and its
**production** transport settings (Redis: ``visibility_timeout`` 3600 s, kombu's default
restore sweep; RabbitMQ: durable queue, publisher confirms), only with small chunks so a
job of a few thousand customers takes long enough to be killed in the middle, and a queue
name of the test's own (``TEST_CELERY_QUEUE``) so a shared broker is never drained.
"""

import os

os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"

from exponea_pii.test_settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("TEST_CELERY_QUEUE", "celery")
ANONYMIZATION_CHUNK_SIZE = int(os.environ.get("TEST_ANONYMIZATION_CHUNK_SIZE", "100"))
