"""Settings for the Celery worker that tests/customers/test_worker_kill.py starts and kills.

The test settings, but with a real broker (REDIS_URL), small chunks so a job of a few
thousand customers takes long enough to be killed in the middle, and a short visibility
timeout (still longer than a chunk) so the killed worker's message comes back quickly.
"""

import os

os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"

from exponea_pii.test_settings import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("TEST_VISIBILITY_TIMEOUT", "3")),
    # kombu sweeps for abandoned messages every interval x throttle seconds (100 s by
    # default); a worker that starts within the visibility timeout of the kill would
    # otherwise wait that long for the killed worker's message.
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
ANONYMIZATION_CHUNK_SIZE = int(os.environ.get("TEST_ANONYMIZATION_CHUNK_SIZE", "100"))
