"""Signals other apps listen to, so `access` need not import them (dependencies point one way)."""

from django.dispatch import Signal

# Sent inside the transaction that created a project: kwargs ``project``, ``actor``.
project_created = Signal()
