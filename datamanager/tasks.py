"""Celery entry points of the Data manager (found by ``autodiscover_tasks``): the search
index build or drop, defined with its service in :mod:`.search_indexes`."""

from .search_indexes import search_index_sync_task

__all__ = ["search_index_sync_task"]
