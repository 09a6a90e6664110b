"""The leftover check's pre-filter never hides a leftover the regex would find.

Anonymization compiles a customer's case-insensitive regex only when a folded substring
test says a removed value may be in what stays (customers/services/erasure_receipt.py,
``_fold`` and ``_may_contain``). That is only safe if folding maps every pair of letters
the regex matches to each other to the same letter; these tests check it against ``re``
itself for every cased letter, and end to end for letters outside simple lower case.
"""

from __future__ import annotations

import re
import sys

import pytest

from access.selectors import principal_for_user
from customers.models import Customer, ErasureReceipt
from customers.services.anonymization import customer_anonymize_one
from customers.services.erasure_receipt import _fold, _may_contain
from tests import factories
from tests.conftest import World


def _cased_letters() -> list[str]:
    return [
        chr(cp)
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and chr(cp).lower() != chr(cp).upper()
    ]


def test_fold_maps_letters_the_regex_matches_to_one_letter() -> None:
    letters = _cased_letters()
    # Letters match case-insensitively only within one simple-case group: compare each
    # letter with its case forms and with every letter of the same fold.
    by_fold: dict[str, list[str]] = {}
    for letter in letters:
        by_fold.setdefault(_fold(letter), []).append(letter)
    for letter in letters:
        assert len(_fold(letter)) == 1, hex(ord(letter))
        candidates = {*letter.lower(), *letter.upper(), *letter.casefold()}
        for other in candidates:
            if re.fullmatch(re.escape(other), letter, re.IGNORECASE):
                assert _fold(other) == _fold(letter), (hex(ord(letter)), hex(ord(other)))
    for extra in ("\u017f", "\u0131", "\u1c80", "\u212a", "\u03c2"):
        matched = [c for c in letters if re.fullmatch(re.escape(c), extra, re.IGNORECASE)]
        assert matched and all(_fold(c) == _fold(extra) for c in matched), hex(ord(extra))


@pytest.mark.parametrize(
    ("removed", "stays"),
    [
        ("sam@x.test", "mail \u017fam@X.TEST now"),  # long s matches s
        ("KIM", "kim"),
        ("Kelvin", "\u212aelvin"),  # Kelvin sign matches k
        ("\u0130stanbul", "istanbul"),  # U+0130's simple lower case is i
        (
            "\u03c3\u03bf\u03c6\u03af\u03b1\u03c2",
            "\u03a3\u039f\u03a6\u038a\u0391\u03a3 x",
        ),  # final sigma
        ("12345", "12345"),
    ],
)
def test_may_contain_whenever_the_regex_matches(removed: str, stays: str) -> None:
    assert re.search(re.escape(removed), stays, re.IGNORECASE)
    assert _may_contain([stays], {removed})
    assert _may_contain(["other text", stays], {"zzz", removed})


def test_may_contain_is_false_without_a_match() -> None:
    assert not _may_contain(["https://shop.example.com/sale"], {"sam@x.test"})
    assert not _may_contain([], {"sam@x.test"})


def test_a_leftover_in_another_case_form_is_still_cleared(world: World) -> None:
    tracked = factories.track_customer(
        world.project,
        {"registered": "kelvin.sam@x.test"},
        {"note": "Wrote to \u212aELVIN.\u017fAM@X.TEST twice."},
    )
    actor = principal_for_user(world.admin, world.project)
    customer_anonymize_one(actor=actor, source="app", customer_pk=tracked.pk)
    customer = Customer.objects.get(pk=tracked.pk)
    assert customer.properties["note"] == "Wrote to ****** twice."
    receipt = ErasureReceipt.objects.get(customer_id=tracked.pk)
    assert {"where": "property", "event_type": "", "attribute": "note", "count": 1} in (
        receipt.leftovers
    )
