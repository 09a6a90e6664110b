"""The filter builder's rows and the column picker's form.

The builder is a plain GET form: each condition is a row of indexed fields
(``c0.attribute``, ``c0.operator``, ...) that :meth:`CustomerFilter.from_querydict`
reads, so it works without JavaScript and the result is a bookmarkable URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from .filters import Condition, CustomerFilter, EventCondition, Operator, ValueType

OPERATOR_CHOICES: list[tuple[str, str]] = [(op.value, op.label) for op in Operator]
TYPE_CHOICES: list[tuple[str, str]] = [("", "auto")] + [(t.value, t.value) for t in ValueType]


@dataclass(frozen=True)
class ConditionRow:
    """One row of the builder; ``index`` names its fields (``c<index>.attribute``)."""

    index: int
    attribute: str = ""
    operator: str = Operator.EQUALS.value
    value: str = ""
    value2: str = ""
    type: str = ""

    @property
    def prefix(self) -> str:
        return f"c{self.index}."


@dataclass(frozen=True)
class EventRow:
    index: int
    event_type: str = ""
    within_days: str = ""
    done: bool = True

    @property
    def prefix(self) -> str:
        return f"e{self.index}."


def builder_rows(customer_filter: CustomerFilter) -> tuple[list[ConditionRow], list[EventRow]]:
    """The filter's conditions as builder rows, plus one blank row of each kind to add one.

    Values shown here come from the principal's own URL; conditions on PII attributes never
    reach this point for a principal without Personal data (they are refused first).
    """
    conditions = [_condition_row(i, c) for i, c in enumerate(customer_filter.conditions)]
    conditions.append(ConditionRow(index=len(conditions)))
    events = [_event_row(i, e) for i, e in enumerate(customer_filter.events)]
    events.append(EventRow(index=len(events)))
    return conditions, events


def _condition_row(index: int, condition: Condition) -> ConditionRow:
    return ConditionRow(
        index=index,
        attribute=condition.attribute,
        operator=condition.operator.value,
        value=condition.value,
        value2=condition.value2,
        type=condition.type.value if condition.type else "",
    )


def _event_row(index: int, event: EventCondition) -> EventRow:
    return EventRow(
        index=index,
        event_type=event.event_type,
        within_days=str(event.within_days) if event.within_days else "",
        done=event.done,
    )


class ColumnsForm(forms.Form):
    """The column picker (POST); names are checked against the catalog by the service."""

    column = forms.MultipleChoiceField(required=False)
    next = forms.CharField(required=False, max_length=4000)

    def __init__(self, *args: object, names: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["column"].choices = [(n, n) for n in names]  # type: ignore[attr-defined]
