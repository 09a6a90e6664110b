"""PII suggestions: does an attribute's name or sampled values look like personal data?

A hint for the admin, never a decision: suggested attributes get a badge and can be staged
with "Flag all suggested", but nothing is flagged until the admin saves. Only attributes
that are not flagged yet are asked about, so only values every viewer may see anyway are
ever inspected here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable

from .models import AttributeType

# Name tokens that on their own mean "this is about a person".
STRONG_TOKENS: frozenset[str] = frozenset(
    {
        "email",
        "mail",
        "e_mail",
        "phone",
        "mobile",
        "telephone",
        "msisdn",
        "address",
        "street",
        "zip",
        "zipcode",
        "postcode",
        "postal",
        "birth",
        "birthday",
        "birthdate",
        "dob",
        "ip",
        "ipv4",
        "ipv6",
        "card",
        "iban",
        "ssn",
        "passport",
        "surname",
        "firstname",
        "lastname",
        "fullname",
        "username",
        "latitude",
        "longitude",
        "gps",
    }
)
# ``name`` alone is too common (product_name, campaign_name): it counts only as a person's
# name on its own or after one of these.
PERSON_NAME_QUALIFIERS: frozenset[str] = frozenset(
    {"first", "last", "full", "middle", "given", "family", "maiden", "sur", "customer", "contact"}
)
# Glued spellings (``emailAddress`` is split by case, ``emailaddress`` is not).
GLUED: tuple[str, ...] = ("email", "phone", "firstname", "lastname", "surname", "birth", "address")

_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().\-/]{7,22}$")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# Share of the sampled distinct values that must match a pattern.
VALUE_SHARE = 0.6


def name_tokens(name: str) -> list[str]:
    """``shipping_address`` → [shipping, address]; ``birthDate`` → [birth, date]."""
    return [t for t in _SPLIT.split(_CAMEL.sub("_", name).lower()) if t]


def _name_reason(name: str) -> str | None:
    tokens = name_tokens(name)
    for i, word in enumerate(tokens):
        if word in STRONG_TOKENS:
            return f"name contains “{word}”"
        if word == "name" and (
            len(tokens) == 1 or (i > 0 and tokens[i - 1] in PERSON_NAME_QUALIFIERS)
        ):
            return "name looks like a person's name"
    glued = "".join(tokens)
    for word in GLUED:
        if word in glued:
            return f"name contains “{word}”"
    return None


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_like_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def looks_like_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def looks_like_card(value: str) -> bool:
    digits = re.sub(r"[\s-]", "", value)
    return digits.isdigit() and 13 <= len(digits) <= 19 and _luhn(digits)


def looks_like_phone(value: str) -> bool:
    if not _PHONE.match(value) or _DATE_LIKE.match(value):
        return False
    digits = sum(ch.isdigit() for ch in value)
    # A bare run of digits is as likely an order number: a phone number shows a "+",
    # a leading "00" or separators.
    formatted = value.startswith(("+", "00")) or any(ch in value for ch in " ()-/")
    return 7 <= digits <= 15 and formatted


VALUE_PATTERNS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("e-mail addresses", looks_like_email),
    ("IP addresses", looks_like_ip),
    ("card numbers", looks_like_card),
    ("phone numbers", looks_like_phone),
)


def _value_reason(values: Iterable[str]) -> str | None:
    sample = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if not sample:
        return None
    for label, check in VALUE_PATTERNS:
        matched = sum(1 for v in sample if check(v))
        if matched / len(sample) >= VALUE_SHARE:
            return f"values look like {label}"
    return None


def pii_suggestion(
    *, name: str, type: str, is_id: bool = False, values: Iterable[str] = ()
) -> str | None:
    """Why this attribute looks like personal data, or ``None``.

    ``values`` are sampled distinct values (strings; others are ignored). External IDs
    identify a person by definition. A boolean is never personal by its name alone
    (``email_verified`` is a consent flag, not an address).
    """
    if is_id:
        return "an external ID identifies a person"
    if type != AttributeType.BOOLEAN:
        reason = _name_reason(name)
        if reason:
            return reason
    return _value_reason(values)
