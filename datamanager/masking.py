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
        # PII names whose value this masker let through (customer names, "type.attribute"
        # for events): what the personal-data access log records (accountability/).
        self.revealed: set[str] = set()

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
        if self.can_see_personal_data:
            if self.catalog.is_pii_customer_attribute(name):
                self.revealed.add(name)
            return value
        return MASK if self.catalog.is_pii_customer_attribute(name) else value

    def customer_properties(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.customer_value(name, value) for name, value in properties.items()}

    def customer_ids(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """IDs as ``{name: value}`` or ``{name: [values]}``; every value of a PII name masked."""
        out: dict[str, Any] = {}
        for name, value in ids.items():
            if self.hides_customer_attribute(name):
                out[name] = [MASK for _ in value] if isinstance(value, list) else MASK
            else:
                if value and self.can_see_personal_data:
                    self._note_customer_attribute(name)
                out[name] = value
        return out

    def _note_customer_attribute(self, name: str) -> None:
        if self.catalog.is_pii_customer_attribute(name):
            self.revealed.add(name)

    def event_value(self, event_type: str, name: str, value: Any) -> Any:
        if value is None:
            return None
        if self.hides_event_attribute(event_type, name):
            return MASK
        if self.can_see_personal_data and name in self.catalog.event_pii(event_type):
            self.revealed.add(f"{event_type}.{name}")
        return value

    def event_properties(self, event_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        if self.can_see_personal_data:
            pii = self.catalog.event_pii(event_type)
            if pii:
                for name in pii.intersection(properties):
                    if properties[name] is not None:
                        self.revealed.add(f"{event_type}.{name}")
            return dict(properties)
        hidden = self.catalog.event_pii(event_type)
        return {k: (MASK if k in hidden and v is not None else v) for k, v in properties.items()}

    def revealable_customer_attributes(self, names: Iterable[str]) -> list[str]:
        """The PII names among ``names`` this masker would show unmasked (an export's
        column plan: the access log records them before the rows stream)."""
        if not self.can_see_personal_data:
            return []
        return sorted({n for n in names if self.catalog.is_pii_customer_attribute(n)})

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
