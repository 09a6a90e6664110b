"""Celery entry points: thin wrappers that call services."""
