"""The masking object: the only thing that turns a stored customer value into output.

Built from the project's :class:`~datamanager.catalog.PiiCatalog` and the principal's
Personal data permission. HTML, JSON, CSV and error messages all go through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from access.errors import PiiFieldRefused
from access.principal import Principal

from .catalog import PiiCatalog, catalog_for_project

# The text of a masked value, wherever it is shown (pages, JSON, CSV, the API).
MASK = "******"


class Masked(str):
    """The masked value: a typed marker, not a text that callers compare.

    There is one instance, :data:`MASKED`. It is a ``str`` whose text is :data:`MASK`, so
    JSON, CSV and templates render it as ``******`` without a special encoder and the API
    keeps Exponea's shapes; whether a value *is masked* is ``isinstance(value, Masked)``
    (:func:`is_masked`), so a stored literal ``"******"`` stays a value.
    """

    __slots__ = ()
    _instance: ClassVar[Masked | None] = None

    def __new__(cls) -> Masked:
        if cls._instance is None:
            cls._instance = super().__new__(cls, MASK)
        return cls._instance

    def __repr__(self) -> str:
        return "MASKED"

    def __reduce__(self) -> tuple[type[Masked], tuple[()]]:
        return (Masked, ())  # a pickled (cached) or copied marker is the marker again


MASKED = Masked()


def is_masked(value: object) -> bool:
    """True for the masked marker only; a stored ``"******"`` is a value like any other."""
    return isinstance(value, Masked)


@dataclass(frozen=True)
class RevealGrant:
    """A temporary reveal in force: one customer's values for one member, until ``expires_at``.

    Found by ``accountability.services.reveal_masker`` (the member, the customer and the
    window checked on the server at every request); only the profile of ``customer_pk``
    builds a masker with one.
    """

    reveal_id: int
    customer_pk: int
    reason: str
    expires_at: dt.datetime


class Masker:
    """Masks PII values for a principal who may not see personal data; passes them otherwise.

    With a :class:`RevealGrant` (a member without Personal data, one customer's profile)
    values pass as for Personal data, but every refusal stays as without it: a reveal
    never allows filtering, sorting, sampling or exporting by PII.
    """

    def __init__(
        self, catalog: PiiCatalog, *, can_see_personal_data: bool, reveal: RevealGrant | None = None
    ) -> None:
        self.catalog = catalog
        # The standing permission decides refusals and export plans; values may also pass
        # through a temporary reveal.
        self.standing_personal_data = can_see_personal_data
        self.reveal = None if can_see_personal_data else reveal
        self.can_see_personal_data = can_see_personal_data or self.reveal is not None
        # PII names whose value this masker let through (customer names, "type.attribute"
        # for events): what the personal-data access log records (accountability/).
        self.revealed: set[str] = set()

    @classmethod
    def for_principal(cls, principal: Principal, *, reveal: RevealGrant | None = None) -> Masker:
        catalog = catalog_for_project(principal.project.pk)
        if reveal is None:
            return cls(catalog, can_see_personal_data=principal.can_see_personal_data)
        return cls(catalog, can_see_personal_data=principal.can_see_personal_data, reveal=reveal)

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
        return MASKED if self.catalog.is_pii_customer_attribute(name) else value

    def customer_properties(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.customer_value(name, value) for name, value in properties.items()}

    def id_values(self, name: str, value: Any) -> Any:
        """One ID name's value (a hard ID) or list of values (a soft ID) as shown.

        The ID rule, used by the list, the profile, the CSV export and the API: a hidden
        name's values become one :data:`MASKED` whatever their number, so a principal
        without Personal data never learns how many a customer has. The shape is kept (a
        hard ID's value becomes ``MASKED``, a soft ID's list ``[MASKED]``); ``None`` and an
        empty list stay as they are (nothing to hide).
        """
        if self.hides_customer_attribute(name):
            if isinstance(value, list):
                return [MASKED] if value else []
            return None if value is None else MASKED
        if value and self.can_see_personal_data:
            self._note_customer_attribute(name)
        return value

    def customer_ids(self, ids: Mapping[str, Any]) -> dict[str, Any]:
        """IDs as ``{name: value}`` or ``{name: [values]}``, each name by :meth:`id_values`."""
        return {name: self.id_values(name, value) for name, value in ids.items()}

    def _note_customer_attribute(self, name: str) -> None:
        if self.catalog.is_pii_customer_attribute(name):
            self.revealed.add(name)

    def event_value(self, event_type: str, name: str, value: Any) -> Any:
        if value is None:
            return None
        if self.hides_event_attribute(event_type, name):
            return MASKED
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
        return {k: (MASKED if k in hidden and v is not None else v) for k, v in properties.items()}

    def revealable_customer_attributes(self, names: Iterable[str]) -> list[str]:
        """The PII names among ``names`` this masker would show unmasked (an export's
        column plan: the access log records them before the rows stream)."""
        if not self.standing_personal_data:
            return []  # a temporary reveal never exports
        return sorted({n for n in names if self.catalog.is_pii_customer_attribute(n)})

    # Refusals -------------------------------------------------------------------------------

    def check_customer_fields(
        self, names: Iterable[str], *, usage: str = "filter or sort by"
    ) -> None:
        """Refuse a filter, sort, search or sample on a PII customer attribute (also during
        a temporary reveal: only the standing permission allows them)."""
        if self.standing_personal_data:
            return
        for name in names:
            if self.catalog.is_pii_customer_attribute(name):
                raise PiiFieldRefused(name, usage=usage)

    def check_event_fields(
        self, event_type: str, names: Iterable[str], *, usage: str = "filter or sort by"
    ) -> None:
        if self.standing_personal_data:
            return
        hidden = self.catalog.event_pii(event_type)
        for name in names:
            if name in hidden:
                raise PiiFieldRefused(f"{event_type}.{name}", usage=usage)
