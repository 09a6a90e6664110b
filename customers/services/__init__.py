"""Every write about customers, one module per concern, each service atomic and audited.

- :mod:`.tracking`: identification and merge, property updates, events (the tracking API)
- :mod:`.anonymization`: the anonymization service and bulk jobs
- :mod:`.export`: audited exports of customer data
"""

from .anonymization import anonymization_job_create, customer_anonymize
from .tracking import (
    TrackedCustomer,
    customer_identify,
    customer_update,
    event_track,
    events_track_many,
)

__all__ = [
    "TrackedCustomer",
    "anonymization_job_create",
    "customer_anonymize",
    "customer_identify",
    "customer_update",
    "event_track",
    "events_track_many",
]
