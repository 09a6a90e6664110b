"""Every write about customers, one module per concern, each service atomic and audited.

- :mod:`.tracking`: identification and merge, property updates, events (the tracking API)
- :mod:`.anonymization`: the anonymization service; :mod:`.anonymization_jobs`: bulk jobs
- :mod:`.export_engine`: every audited export of customer data (:mod:`.export`: the page's)
"""

from .anonymization import customer_anonymize
from .anonymization_jobs import anonymization_job_create
from .export import customers_export_csv
from .export_engine import CustomerExport, customers_export
from .list_preferences import customer_list_columns_set
from .tracking import (
    TrackedCustomer,
    customer_identify,
    customer_update,
    event_track,
    events_track_many,
)

__all__ = [
    "CustomerExport",
    "TrackedCustomer",
    "anonymization_job_create",
    "customer_anonymize",
    "customer_identify",
    "customer_list_columns_set",
    "customer_update",
    "customers_export",
    "customers_export_csv",
    "event_track",
    "events_track_many",
]
