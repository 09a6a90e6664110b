"""The Data manager page's form: every row posts its current and its original state.

Each row carries a hidden ``<prefix>-<pk>-orig`` field with the state the page was
rendered from; only fields whose posted value differs from it become staged changes. So a
save never overwrites what another admin changed meanwhile in a field this one did not
touch, and the page works as a plain form post without JavaScript.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.http import QueryDict

from access.errors import NotFound

from .models import CustomerAttribute, EventAttribute, EventType
from .services import CustomerAttributeChange, EventAttributeChange, EventTypeChange

_ORIG = re.compile(r"^(ca|ea|et)-(\d+)-orig$")


def orig_token(pii: bool, type_: str, description: str) -> str:
    """The hidden original state of an attribute row: ``"1|string|free text"``."""
    return f"{int(pii)}|{type_}|{description}"


@dataclass
class RowState:
    """What a row shows: the staged value of each field next to its original."""

    pii: bool
    type: str
    description: str
    orig_pii: bool
    orig_type: str
    orig_description: str

    @classmethod
    def saved(cls, obj: CustomerAttribute | EventAttribute) -> RowState:
        return cls(obj.pii, obj.type, obj.description, obj.pii, obj.type, obj.description)

    @property
    def orig(self) -> str:
        return orig_token(self.orig_pii, self.orig_type, self.orig_description)

    @property
    def new_pii(self) -> bool | None:
        return self.pii if self.pii != self.orig_pii else None

    @property
    def new_type(self) -> str | None:
        return self.type if self.type != self.orig_type else None

    @property
    def new_description(self) -> str | None:
        return self.description if self.description != self.orig_description else None

    @property
    def changed_fields(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.pii != self.orig_pii:
            out["pii"] = self.pii
        if self.type != self.orig_type:
            out["type"] = self.type
        if self.description != self.orig_description:
            out["description"] = self.description
        return out


@dataclass
class StagedForm:
    """The parsed post: row states by pk and the changes they amount to."""

    customer: dict[int, RowState] = field(default_factory=dict)
    event_attributes: dict[int, RowState] = field(default_factory=dict)
    event_types: dict[int, tuple[str, str]] = field(default_factory=dict)  # staged, orig

    @property
    def change_count(self) -> int:
        rows = [*self.customer.values(), *self.event_attributes.values()]
        return sum(len(r.changed_fields) for r in rows) + sum(
            1 for staged, orig in self.event_types.values() if staged != orig
        )

    def changes(
        self,
        customer_attributes: Mapping[int, CustomerAttribute],
        event_attributes: Mapping[int, EventAttribute],
        event_types: Mapping[int, EventType],
    ) -> tuple[list[CustomerAttributeChange], list[EventAttributeChange], list[EventTypeChange]]:
        ca = [
            CustomerAttributeChange(
                name=customer_attributes[pk].name,
                pii=row.new_pii,
                type=row.new_type,
                description=row.new_description,
            )
            for pk, row in self.customer.items()
            if row.changed_fields
        ]
        ea = [
            EventAttributeChange(
                event_type=event_attributes[pk].event_type.name,
                name=event_attributes[pk].name,
                pii=row.new_pii,
                type=row.new_type,
                description=row.new_description,
            )
            for pk, row in self.event_attributes.items()
            if row.changed_fields
        ]
        et = [
            EventTypeChange(name=event_types[pk].name, description=staged)
            for pk, (staged, orig) in self.event_types.items()
            if staged != orig
        ]
        return ca, ea, et


def _clean_text(value: str) -> str:
    # A description is one line; browsers may post \r\n from a pasted value.
    return " ".join(value.split())


def staged_form_parse(
    data: QueryDict,
    *,
    customer_attributes: Mapping[int, CustomerAttribute],
    event_attributes: Mapping[int, EventAttribute],
    event_types: Mapping[int, EventType],
) -> StagedForm:
    """Read every row of the post. A pk not in this project's catalog is :class:`NotFound`."""
    staged = StagedForm()
    for key in data:
        match = _ORIG.match(key)
        if not match:
            continue
        prefix, pk = match.group(1), int(match.group(2))
        orig = data.get(key, "")
        if prefix == "et":
            if pk not in event_types:
                raise NotFound("Event type not found.")
            staged.event_types[pk] = (_clean_text(data.get(f"et-{pk}-desc", orig)), orig)
            continue
        known = customer_attributes if prefix == "ca" else event_attributes
        if pk not in known:
            raise NotFound("Attribute not found.")
        orig_pii, orig_type, orig_desc = [*orig.split("|", 2), "", "", ""][:3]
        row = RowState(
            pii=data.get(f"{prefix}-{pk}-pii") == "1",
            type=data.get(f"{prefix}-{pk}-type", orig_type),
            description=_clean_text(data.get(f"{prefix}-{pk}-desc", orig_desc)),
            orig_pii=orig_pii == "1",
            orig_type=orig_type,
            orig_description=orig_desc,
        )
        (staged.customer if prefix == "ca" else staged.event_attributes)[pk] = row
    return staged
