"""The filter builder's rows and the column picker's form.

The builder is a plain GET form: each condition is a row of indexed fields
(``c0.attribute``, ``c0.operator``, ...) that :meth:`CustomerFilter.from_querydict`
reads, so it works without JavaScript and the result is a bookmarkable URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms

from .filters import Condition, CustomerFilter, EventCondition, Operator, ValueType
from .filters.values import COMPACT_CONSENT, COMPACT_EVENT, COMPACT_GROUP, CountOp, Group, Match

OPERATOR_CHOICES: list[tuple[str, str]] = [(op.value, op.label) for op in Operator]
TYPE_CHOICES: list[tuple[str, str]] = [("", "auto")] + [(t.value, t.value) for t in ValueType]
COUNT_CHOICES: list[tuple[str, str]] = [("", "at least once")] + [
    (op.value, op.label) for op in CountOp
]
# The form's groups: rows pick one by number; each has its own match and negation.
FORM_GROUPS = 3
GROUP_LETTERS = "ABC"


@dataclass(frozen=True)
class ConditionRow:
    """One row of the builder; ``index`` names its fields (``c<index>.attribute``)."""

    index: int
    attribute: str = ""
    operator: str = Operator.EQUALS.value
    value: str = ""
    value2: str = ""
    type: str = ""
    negate: bool = False
    group: str = ""  # "" (AND with the rest) or the form group's number

    @property
    def prefix(self) -> str:
        return f"c{self.index}."


@dataclass(frozen=True)
class EventRow:
    index: int
    event_type: str = ""
    within_days: str = ""
    done: bool = True
    group: str = ""
    where: ConditionRow | None = None  # one attribute condition ("where total > 100")
    count_op: str = ""
    count: str = ""
    since: str = ""
    until: str = ""

    @property
    def prefix(self) -> str:
        return f"e{self.index}."


@dataclass(frozen=True)
class GroupRow:
    """A form group's settings (``g<number>.match``, ``g<number>.not``)."""

    number: int
    match: str = Match.ANY.value
    negate: bool = False

    @property
    def prefix(self) -> str:
        return f"g{self.number}."

    @property
    def letter(self) -> str:
        return GROUP_LETTERS[self.number]


@dataclass
class Builder:
    """The filter as the form shows it: rows, group settings, and the parts the form cannot
    show (nested groups, events with several attribute conditions), kept as hidden
    parameters with their labels so the filter is not narrowed or widened by a re-submit."""

    conditions: list[ConditionRow]
    events: list[EventRow]
    groups: list[GroupRow]
    kept: list[tuple[str, str, str]]  # (parameter, value, label)


def _form_event(event: EventCondition) -> bool:
    """An event condition the form can show: at most one attribute condition, not negated."""
    return len(event.where) <= 1 and not any(c.negate for c in event.where)


def _form_group(group: Group) -> bool:
    """A group the form can show: no nested groups or consents, events the form can show."""
    return not group.groups and not group.consents and all(_form_event(e) for e in group.events)


def builder_rows(customer_filter: CustomerFilter) -> Builder:
    """The filter's conditions as builder rows, plus one blank row of each kind to add one.

    Values shown here come from the principal's own URL; conditions on PII attributes never
    reach this point for a principal without Personal data (they are refused first).
    """
    conditions: list[ConditionRow] = []
    events: list[EventRow] = []
    kept: list[tuple[str, str, str]] = []
    for condition in customer_filter.conditions:
        conditions.append(_condition_row(len(conditions), condition, ""))
    for event in customer_filter.events:
        if not _form_event(event):
            kept.append((COMPACT_EVENT, event.to_compact(), event.label))
        else:
            events.append(_event_row(len(events), event, ""))
    groups = [GroupRow(number=n) for n in range(FORM_GROUPS)]
    shown = 0
    for group in customer_filter.groups:
        if shown >= FORM_GROUPS or not _form_group(group):
            kept.append((COMPACT_GROUP, group.to_compact(), group.label))
            continue
        number = str(shown)
        groups[shown] = GroupRow(number=shown, match=group.match.value, negate=group.negate)
        shown += 1
        for condition in group.conditions:
            conditions.append(_condition_row(len(conditions), condition, number))
        for event in group.events:
            events.append(_event_row(len(events), event, number))
    # The form has no consent row: consent conditions stay as they were.
    kept += [(COMPACT_CONSENT, k.to_compact(), k.label) for k in customer_filter.consents]
    conditions.append(ConditionRow(index=len(conditions)))
    events.append(EventRow(index=len(events)))
    return Builder(conditions=conditions, events=events, groups=groups, kept=kept)


def _condition_row(index: int, condition: Condition, group: str) -> ConditionRow:
    return ConditionRow(
        index=index,
        attribute=condition.attribute,
        operator=condition.operator.value,
        value=condition.value,
        value2=condition.value2,
        type=condition.type.value if condition.type else "",
        negate=condition.negate,
        group=group,
    )


def _event_row(index: int, event: EventCondition, group: str) -> EventRow:
    where = _condition_row(0, event.where[0], "") if event.where else None
    return EventRow(
        index=index,
        event_type=event.event_type,
        within_days=str(event.within_days) if event.within_days else "",
        done=event.done,
        group=group,
        where=where,
        count_op=event.count.op.value if event.count else "",
        count=str(event.count.value) if event.count else "",
        since=event.since,
        until=event.until,
    )


class ColumnsForm(forms.Form):
    """The column picker (POST); names are checked against the catalog by the service."""

    column = forms.MultipleChoiceField(required=False)
    next = forms.CharField(required=False, max_length=4000)

    def __init__(self, *args: object, names: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["column"].choices = [(n, n) for n in names]  # type: ignore[attr-defined]
