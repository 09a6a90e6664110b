"""The Masker with a temporary reveal (issue 16): values pass, refusals and export plans do not.

Written for the mutation run of ``datamanager/masking.py`` (issue 20): a member without
Personal data who holds a reveal of one customer sees that customer's values, but still may
not filter, sort or sample by PII, and an export plan still shows nothing; a member with
Personal data gains nothing from a reveal (it is dropped, so it is never recorded as used).
"""

from __future__ import annotations

import datetime as dt

import pytest

from access.errors import PiiFieldRefused
from datamanager.catalog import PiiCatalog
from datamanager.masking import MASK, Masker, RevealGrant
from tests import factories
from tests.conftest import World

CATALOG = PiiCatalog(
    project_id=7,
    customer_properties=frozenset({"email"}),
    id_names=frozenset({"registered"}),
    event_attributes={"purchase": frozenset({"address"})},
)
GRANT = RevealGrant(
    reveal_id=3,
    customer_pk=11,
    reason="Support ticket 42",
    expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
)


def test_a_reveal_lets_values_through_for_a_member_without_personal_data() -> None:
    masker = Masker(CATALOG, can_see_personal_data=False, reveal=GRANT)
    assert masker.reveal is GRANT
    assert masker.standing_personal_data is False
    assert masker.can_see_personal_data is True
    assert masker.customer_value("email", "a@leak.test") == "a@leak.test"
    assert masker.id_values("registered", ["r1", "r2"]) == ["r1", "r2"]
    assert masker.event_properties("purchase", {"address": "Canary Row"}) == {
        "address": "Canary Row"
    }
    assert masker.revealed == {"email", "registered", "purchase.address"}


def test_a_reveal_never_allows_a_refused_filter_or_an_export_plan() -> None:
    masker = Masker(CATALOG, can_see_personal_data=False, reveal=GRANT)
    with pytest.raises(PiiFieldRefused):
        masker.check_customer_fields(["email"])
    with pytest.raises(PiiFieldRefused):
        masker.check_customer_fields(["registered"])
    with pytest.raises(PiiFieldRefused):
        masker.check_event_fields("purchase", ["address"])
    assert masker.revealable_customer_attributes(["email", "registered", "city"]) == []


def test_without_a_reveal_the_member_gets_masks() -> None:
    masker = Masker(CATALOG, can_see_personal_data=False)
    assert masker.reveal is None
    assert masker.can_see_personal_data is False
    assert masker.customer_value("email", "a@leak.test") == MASK


def test_a_member_with_personal_data_gains_nothing_from_a_reveal() -> None:
    masker = Masker(CATALOG, can_see_personal_data=True, reveal=GRANT)
    assert masker.reveal is None  # not recorded as a reveal in use
    assert masker.standing_personal_data is True
    assert masker.can_see_personal_data is True
    masker.check_customer_fields(["email"])
    masker.check_event_fields("purchase", ["address"])
    assert masker.revealable_customer_attributes(["email", "city"]) == ["email"]


def test_for_principal_passes_the_reveal_and_the_standing_permission(world: World) -> None:
    marketer = factories.principal_of(world.marketer, world.project)
    admin = factories.principal_of(world.admin, world.project)

    revealed = Masker.for_principal(marketer, reveal=GRANT)
    assert revealed.reveal is GRANT
    assert revealed.standing_personal_data is False
    assert revealed.catalog.project_id == world.project.pk
    assert revealed.customer_value("email", "a@leak.test") == "a@leak.test"
    with pytest.raises(PiiFieldRefused):
        revealed.check_customer_fields(["email"])

    plain = Masker.for_principal(marketer)
    assert plain.reveal is None
    assert plain.customer_value("email", "a@leak.test") == MASK

    standing = Masker.for_principal(admin, reveal=GRANT)
    assert standing.reveal is None
    assert standing.standing_personal_data is True
    assert standing.revealable_customer_attributes(["email", "city"]) == ["email"]
