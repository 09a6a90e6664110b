"""Signals other apps listen to, so `datamanager` need not import them (dependencies point one way)."""

from django.dispatch import Signal

# Sent inside the transaction of a catalog save that flagged attributes as PII, with
# ``project``, ``actor`` and ``attributes`` (labels): customers anonymized earlier still
# hold those attributes, and the receiver (customers) queues a job that removes them.
pii_flagged = Signal()
