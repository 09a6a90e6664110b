"""Every write to the attribute catalog, one module per job:

- :mod:`.defaults`: what a new project's catalog starts with (``on_project_created``);
- :mod:`.discovery`: names seen in tracked data join the catalog (``catalog_register_seen``);
- :mod:`.change_types`: what a Data manager save asks for and answers (change value objects,
  ``AppliedChange``, ``UnflagForbidden`` / ``UnflagNotConfirmed``, ``DESCRIPTION_MAX``);
- :mod:`.catalog_changes`: the one audited save of flags, types and descriptions
  (``catalog_changes_apply``);
- :mod:`.shortcuts`: thin forms of that save for setup code (``pii_flags_set``,
  ``attribute_declare``).

The names below are the package's public interface; callers import them from here.
"""

from .catalog_changes import catalog_changes_apply
from .change_types import (
    DESCRIPTION_MAX,
    AppliedChange,
    CatalogChangeResult,
    CustomerAttributeChange,
    EventAttributeChange,
    EventTypeChange,
    UnflagForbidden,
    UnflagNotConfirmed,
)
from .defaults import DEFAULT_IDS, SYSTEM_EVENT_TYPES, on_project_created
from .discovery import catalog_register_seen
from .shortcuts import attribute_declare, pii_flags_set

__all__ = [
    "DEFAULT_IDS",
    "DESCRIPTION_MAX",
    "SYSTEM_EVENT_TYPES",
    "AppliedChange",
    "CatalogChangeResult",
    "CustomerAttributeChange",
    "EventAttributeChange",
    "EventTypeChange",
    "UnflagForbidden",
    "UnflagNotConfirmed",
    "attribute_declare",
    "catalog_changes_apply",
    "catalog_register_seen",
    "on_project_created",
    "pii_flags_set",
]
