"""The demo project as the customer page tests use it: seeded small, with its PII values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command

from access.models import Project
from customers.management.commands.seed_demo import PII_CUSTOMER, PII_EVENTS, PROJECT_NAME
from customers.models import Customer, CustomerId, Event


@dataclass
class Demo:
    project: Project
    admin: Any
    marketer: Any
    # Every stored value of a PII customer attribute, ID or event attribute (as text).
    pii_values: set[str]
    emails: set[str]
    phones: set[str]


def seed_demo(customers: int = 12) -> Demo:
    call_command("seed_demo", customers=customers, json=True, stdout=_Null())
    project = Project.objects.get(name=PROJECT_NAME)
    User = get_user_model()
    values: set[str] = set()
    emails: set[str] = set()
    phones: set[str] = set()
    for props in Customer.objects.filter(project=project).values_list("properties", flat=True):
        for name in PII_CUSTOMER:
            if props.get(name) is not None:
                values.add(str(props[name]))
        emails.add(props["email"])
        phones.add(props["phone"])
    values |= set(CustomerId.objects.filter(project=project).values_list("value", flat=True))
    pii_events: dict[str, set[str]] = {}
    for type_name, attr in PII_EVENTS:
        pii_events.setdefault(type_name, set()).add(attr)
    for type_name, props in Event.objects.filter(project=project).values_list(
        "event_type__name", "properties"
    ):
        for attr in pii_events.get(type_name, ()):
            if props.get(attr) is not None:
                values.add(str(props[attr]))
    return Demo(
        project=project,
        admin=User.objects.get(username="admin"),
        marketer=User.objects.get(username="marketer"),
        pii_values=values,
        emails=emails,
        phones=phones,
    )


def leaked(text: str, values: set[str]) -> list[str]:
    """The PII values found in ``text`` (HTML-escaped forms included).

    Values shorter than 6 characters (a card's last four digits) are skipped: they occur by
    chance in tokens and timestamps; the tests check those cells show ``******`` instead.
    """
    from django.utils.html import escape

    return sorted(v for v in values if len(v) >= 6 and (v in text or escape(v) in text))


class _Null:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass
