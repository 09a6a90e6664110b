"""The vocabulary of a Data manager save: what a caller asks to change, what changed, and
the two refusals particular to unflagging. Forms and the API build these; the service in
:mod:`.catalog_changes` applies them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from access.errors import Forbidden, InvalidInput

DESCRIPTION_MAX = 500


@dataclass(frozen=True)
class _AttributeChange:
    """What to change on one attribute; ``None`` leaves a field as it is."""

    name: str
    pii: bool | None = None
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class CustomerAttributeChange(_AttributeChange):
    """What to change on one customer attribute."""


@dataclass(frozen=True, kw_only=True)
class EventAttributeChange(_AttributeChange):
    """What to change on one attribute of one event type (``event_type`` by keyword)."""

    event_type: str


@dataclass(frozen=True)
class EventTypeChange:
    """A new description for an event type."""

    name: str
    description: str | None = None


@dataclass(frozen=True)
class AppliedChange:
    """One field that changed, as audited (names and flags/types only, never a value)."""

    target: str  # "customer_attribute" | "event_attribute" | "event_type"
    attribute: str  # the attribute or event type name
    event_type: str | None
    field: str  # "pii" | "type" | "description"
    old: Any
    new: Any

    @property
    def label(self) -> str:
        return f"{self.event_type}.{self.attribute}" if self.event_type else self.attribute

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "name": self.attribute}
        if self.event_type is not None:
            out["event_type"] = self.event_type
        out.update(field=self.field, old=self.old, new=self.new)
        return out


@dataclass(frozen=True)
class CatalogChangeResult:
    changes: list[AppliedChange]


class UnflagForbidden(Forbidden):
    """Unflagging shows hidden values: only a principal who may see them may do it.

    Otherwise ``manage_data`` without Personal data could unflag an attribute, read its
    values and flag it again. Flagging (hiding more) stays open to ``manage_data``.
    """

    code = "unflag_forbidden"

    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = ", ".join(f"'{n}'" for n in names)
        super().__init__(
            f"Unflagging {listed} would show personal data: you need the Personal data "
            "permission to unflag an attribute."
        )


class UnflagNotConfirmed(InvalidInput):
    """Unflagging makes values visible to everyone; the caller must confirm it explicitly."""

    code = "unflag_not_confirmed"

    def __init__(self, names: list[str]) -> None:
        self.names = names
        listed = ", ".join(f"'{n}'" for n in names)
        super().__init__(
            f"Unflagging {listed} makes their values visible to everyone without the Personal "
            "data permission, and anonymization will stop deleting them. Confirm the change "
            '(API: send "confirm_unflag": true).'
        )
