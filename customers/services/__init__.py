"""Every write about customers, one module per concern, each service atomic and audited.

- :mod:`.tracking`: identification and merge, property updates, events (the tracking API)
- :mod:`.anonymization`: the anonymization service and bulk jobs
- :mod:`.export`: audited exports of customer data
"""

from .anonymization import anonymization_job_create, customer_anonymize
from .export import CustomerCsvExport, customers_export_csv
from .list_preferences import customer_list_columns_set
from .tracking import (
    TrackedCustomer,
    customer_identify,
    customer_update,
    event_track,
    events_track_many,
)

__all__ = [
    "CustomerCsvExport",
    "TrackedCustomer",
    "anonymization_job_create",
    "customer_anonymize",
    "customer_identify",
    "customer_list_columns_set",
    "customer_update",
    "customers_export_csv",
    "event_track",
    "events_track_many",
]
