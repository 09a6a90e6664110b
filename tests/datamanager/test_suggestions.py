"""The suggestion module: the demo's obvious PII is suggested, city and plan are not."""

from __future__ import annotations

import time

import pytest

from customers.demo import demo_customers
from customers.management.commands.seed_demo import PII_CUSTOMER, PII_EVENTS
from datamanager.suggestions import (
    looks_like_card,
    looks_like_email,
    looks_like_ip,
    looks_like_phone,
    name_tokens,
    pii_suggestion,
)
from datamanager.typing_rules import infer_type


def _demo_catalog() -> tuple[dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """Attribute names of 30 demo customers with their sampled string values."""
    customer: dict[str, list[str]] = {"registered": [], "cookie": []}
    events: dict[tuple[str, str], list[str]] = {}
    for person in demo_customers(30, now=time.time()):
        for name, value in person.ids.items():
            customer[name].append(value)
        for name, value in person.properties.items():
            customer.setdefault(name, []).append(value)
        for event_type, _ts, props in person.events:
            for name, value in props.items():
                events.setdefault((event_type, name), []).append(value)
    return customer, events


def test_demo_pii_is_suggested_and_nothing_else() -> None:
    customer, events = _demo_catalog()
    suggested = {
        name
        for name, values in customer.items()
        if pii_suggestion(
            name=name,
            type=infer_type(values[0]),
            is_id=name in ("registered", "cookie"),
            values=values,
        )
    }
    assert suggested == set(PII_CUSTOMER)
    assert "city" not in suggested and "plan" not in suggested
    suggested_events = {
        key
        for key, values in events.items()
        if pii_suggestion(name=key[1], type=infer_type(values[0]), values=values)
    }
    assert suggested_events == set(PII_EVENTS)


@pytest.mark.parametrize(
    ("name", "type_", "expected"),
    [
        ("email", "string", True),
        ("emailAddress", "string", True),
        ("homeaddress", "string", True),
        ("first_name", "string", True),
        ("name", "string", True),
        ("product_name", "string", False),
        ("campaign_name", "string", False),
        ("phone", "string", True),
        ("birthDate", "date", True),
        ("ip", "string", True),
        ("iban", "string", True),
        ("card_last4", "string", True),
        ("email_verified", "boolean", False),
        ("city", "string", False),
        ("plan", "string", False),
        ("shipping", "string", False),
        ("description", "string", False),
    ],
)
def test_names(name: str, type_: str, expected: bool) -> None:
    assert (pii_suggestion(name=name, type=type_) is not None) is expected


@pytest.mark.parametrize(
    ("values", "reason_part"),
    [
        (["a@b.io", "someone@example.com"], "e-mail"),
        (["10.0.0.1", "2001:db8::1"], "IP"),
        (["4111 1111 1111 1111", "5500-0000-0000-0004"], "card"),
        (["+421 900 123 456", "(02) 555-0199"], "phone"),
    ],
)
def test_value_patterns_on_innocent_names(values: list[str], reason_part: str) -> None:
    reason = pii_suggestion(name="contact", type="string", values=values)
    assert reason is not None and reason_part in reason


def test_values_that_are_not_personal() -> None:
    for values in (
        ["2024-01-02", "1999-12-31"],  # dates are not phone numbers
        ["12345678", "87654321"],  # bare order numbers
        ["https://shop.example.com/sale"],
        ["premium", "free"],
        [],
    ):
        assert pii_suggestion(name="misc", type="string", values=values) is None, values


def test_a_minority_of_matching_values_is_not_enough() -> None:
    values = ["someone@example.com", "n/a", "none", "unknown"]
    assert pii_suggestion(name="misc", type="string", values=values) is None


def test_helpers() -> None:
    assert name_tokens("shipping_address") == ["shipping", "address"]
    assert name_tokens("birthDate") == ["birth", "date"]
    assert looks_like_email("x@y.sk") and not looks_like_email("x@y")
    assert looks_like_ip("203.0.113.7") and not looks_like_ip("300.1.1.1")
    assert looks_like_card("4111111111111111") and not looks_like_card("4111111111111112")
    assert looks_like_phone("+421 900 111 919") and not looks_like_phone("2024-01-02")
