"""The masking object: the only thing that turns a stored customer value into output.

Built from the project's :class:`~datamanager.catalog.PiiCatalog` and the principal's
Personal data permission. HTML, JSON, CSV and error messages all go through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from access.errors import PiiFieldRefused
from access.principal import Principal

from .catalog import PiiCatalog, catalog_for_project

MASK = "******"


class Masker:
    """Masks PII values for a principal who may not see personal data; passes them otherwise."""

    def __init__(self, catalog: PiiCatalog, *, can_see_personal_data: bool) -> None:
        self.catalog = catalog
        self.can_see_personal_data = can_see_personal_data

    @classmethod
    def for_principal(cls, principal: Principal) -> Masker:
        return cls(
            catalog_for_project(principal.project.pk),
            can_see_personal_data=principal.can_see_personal_data,
        )

    # Which names are hidden -------------------------------------------------------------

    def hides_customer_attribute(self, name: str) -> bool:
        """True if values of this customer property or ID name are masked for the principal."""
        return not self.can_see_personal_data and self.catalog.is_pii_customer_attribute(name)

    def hides_event_attribute(self, event_type: str, name: str) -> bool:
        return not self.can_see_personal_data and name in self.catalog.event_pii(event_type)

    # Values ---------------------------------------------------------------------------------

    def customer_value(self, name: str, value: Any) -> Any:
        """A customer property or ID value as the principal may see it."""
        if value is None:
            return None
        return MASK if self.hides_customer_attribute(name) else value

    def customer_properties(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.customer_value(name, value) for name, value in properties.items()}

    def customer_ids(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """IDs as ``{name: value}`` or ``{name: [values]}``; every value of a PII name masked."""
        out: dict[str, Any] = {}
        for name, value in ids.items():
            if self.hides_customer_attribute(name):
                out[name] = [MASK for _ in value] if isinstance(value, list) else MASK
            else:
                out[name] = value
        return out

    def event_value(self, event_type: str, name: str, value: Any) -> Any:
        if value is None:
            return None
        return MASK if self.hides_event_attribute(event_type, name) else value

    def event_properties(self, event_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        if self.can_see_personal_data:
            return dict(properties)
        hidden = self.catalog.event_pii(event_type)
        return {k: (MASK if k in hidden and v is not None else v) for k, v in properties.items()}

    # Refusals -------------------------------------------------------------------------------

    def check_customer_fields(
        self, names: Iterable[str], *, usage: str = "filter or sort by"
    ) -> None:
        """Refuse a filter, sort, search or sample on a PII customer attribute."""
        for name in names:
            if self.hides_customer_attribute(name):
                raise PiiFieldRefused(name, usage=usage)

    def check_event_fields(
        self, event_type: str, names: Iterable[str], *, usage: str = "filter or sort by"
    ) -> None:
        for name in names:
            if self.hides_event_attribute(event_type, name):
                raise PiiFieldRefused(f"{event_type}.{name}", usage=usage)
