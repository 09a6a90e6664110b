"""Consents (issue 15 item 4): categories, consent events, the state on the profile and in
``customers/attributes``, and the SDK's ``get_customer_consents``.

Sources: ``reference/get-consent-categories-2`` (the categories' shape),
``docs/tracking-consent`` (the event: ``action``, ``category``, ``valid_until``; an invalid
event revokes), ``reference/customer-consents-2`` (the attribute and its modes; the
documented payload is a test case below).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from exponea_python_sdk import Exponea
from exponea_python_sdk.exceptions import APIException

from access.errors import Conflict, Forbidden, InvalidInput, NotFound
from access.models import AuditEvent
from accountability.models import PersonalDataAccess
from consents.models import ConsentCategory
from consents.services import (
    consent_category_create,
    consent_category_delete,
    consent_category_update,
)
from customers.services import event_track
from datamanager.ids import customer_id_create
from datamanager.masking import Masker
from datamanager.services import pii_flags_set
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, World

pytestmark = pytest.mark.django_db

MASK = "******"
CONSENT_MESSAGE = f"Subscribed at the till as {CANARY_EMAIL}"
# A non-PII soft ID of the canary customer: a key without Personal data may look up by it.
SHOP = {"shop_no": "shop-consent-1"}


def _consent(world: World, ids: dict[str, str], ts: float, **props: Any) -> None:
    event_track(
        actor=factories.system(world.project),
        ids=ids,
        event_type="consent",
        timestamp=ts,
        properties=props,
    )


@pytest.fixture
def consents(world: World) -> World:
    """Three categories; the canary customer accepted newsletter (with a PII message),
    accepted then rejected sms, and has an expired push consent."""
    system = factories.system(world.project)
    consent_category_create(actor=system, name="newsletter", label="Newsletter")
    consent_category_create(actor=system, name="sms")
    consent_category_create(actor=system, name="push")
    consent_category_create(actor=system, name="paying_customer", legitimate_interest=True)
    customer_id_create(actor=system, name="shop_no", hard=False, pii=False)
    ids = {"registered": CANARY_EMAIL}
    factories.track_customer(world.project, {**ids, **SHOP})
    now = time.time()
    _consent(
        world,
        ids,
        now - 300,
        action="accept",
        category="newsletter",
        valid_until="unlimited",
        message=CONSENT_MESSAGE,
        source="till",
    )
    _consent(world, ids, now - 200, action="accept", category="sms", valid_until=now + 3600)
    _consent(world, ids, now - 100, action="reject", category="sms")
    _consent(world, ids, now - 50, action="accept", category="push", valid_until=now - 10)
    pii_flags_set(actor=system, event_attributes={("consent", "message"): True})
    return world


def _attributes(world: World, creds: Any, ids: dict[str, str], attributes: list[Any]) -> Any:
    return Client().post(
        f"/data/v2/projects/{world.project.token}/customers/attributes",
        data=json.dumps({"customer_ids": ids, "attributes": attributes}),
        content_type="application/json",
        HTTP_AUTHORIZATION=creds.basic,
    )


# Categories -------------------------------------------------------------------------------


def test_categories_answer_in_exponeas_shape(consents: World) -> None:
    response = Client().get(
        f"/data/v2/projects/{consents.project.token}/consent/categories",
        HTTP_AUTHORIZATION=consents.masked_key.basic,
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["newsletter", "paying_customer", "push", "sms"]
    newsletter = results[0]
    # The documented example's keys and types (reference/get-consent-categories-2).
    assert set(newsletter) == {"id", "legitimate_interest", "sources", "translations"}
    assert newsletter["legitimate_interest"] is False
    assert newsletter["translations"] == {"": {"description": None, "name": "Newsletter"}}
    assert all(isinstance(v, bool) for v in newsletter["sources"].values())
    assert results[1]["legitimate_interest"] is True
    other = Client().get(
        f"/data/v2/projects/{consents.other_project.token}/consent/categories",
        HTTP_AUTHORIZATION=consents.masked_key.basic,
    )
    assert other.status_code == 404


def test_category_services_are_audited_and_refuse_bad_input(world: World) -> None:
    system = factories.system(world.project)
    category = consent_category_create(
        actor=system, name="newsletter", label="News", description="Weekly"
    )
    assert AuditEvent.objects.filter(action="consent_category.create").count() == 1
    for bad in ("", "News Letter", "a" * 101, "UPPER", None, 7):
        with pytest.raises(InvalidInput):
            consent_category_create(actor=system, name=bad)
    with pytest.raises(Conflict):
        consent_category_create(actor=system, name="newsletter")
    marketer = factories.principal_of(world.marketer, world.project)
    with pytest.raises(Forbidden):
        consent_category_create(actor=marketer, name="sms")
    foreign = factories.system(world.other_project)
    with pytest.raises(NotFound):
        consent_category_update(
            actor=foreign, category=category, label="x", description="", legitimate_interest=True
        )
    with pytest.raises(NotFound):
        consent_category_delete(actor=foreign, category=category)
    consent_category_update(
        actor=system, category=category, label="News", description="", legitimate_interest=True
    )
    consent_category_delete(actor=system, category=category)
    assert [e.action for e in AuditEvent.objects.filter(target_type="consent_category")] == [
        "consent_category.delete",
        "consent_category.update",
        "consent_category.create",
    ]
    assert ConsentCategory.objects.count() == 0


def test_the_categories_page_lists_creates_and_refuses(world: World) -> None:
    token = world.project.token
    admin = Client()
    admin.force_login(world.admin)
    page = admin.get(reverse("consents:categories", kwargs={"token": token}))
    assert page.status_code == 200 and "No consent categories yet" in page.content.decode()
    created = admin.post(
        reverse("consents:category_create", kwargs={"token": token}),
        {"name": "newsletter", "label": "Newsletter"},
    )
    assert created.status_code == 302
    bad = admin.post(
        reverse("consents:category_create", kwargs={"token": token}), {"name": "Bad Name"}
    )
    assert bad.status_code == 400
    duplicate = admin.post(
        reverse("consents:category_create", kwargs={"token": token}), {"name": "newsletter"}
    )
    assert duplicate.status_code == 409 and "already exists" in duplicate.content.decode()
    marketer = Client()
    marketer.force_login(world.marketer)
    assert marketer.get(reverse("consents:categories", kwargs={"token": token})).status_code == 200
    refused = marketer.post(
        reverse("consents:category_create", kwargs={"token": token}), {"name": "sms"}
    )
    assert refused.status_code == 403
    foreign = consent_category_create(actor=factories.system(world.other_project), name="x")
    for name in ("consents:category_edit", "consents:category_delete"):
        url = reverse(name, kwargs={"token": token, "category_id": foreign.pk})
        assert admin.post(url, {"label": "y"}).status_code == 404
    assert ConsentCategory.objects.filter(pk=foreign.pk, label="").exists()


# State ------------------------------------------------------------------------------------


def test_state_per_category_follows_the_latest_event(consents: World) -> None:
    response = _attributes(
        consents,
        consents.full_key,
        {"registered": CANARY_EMAIL},
        [
            {"type": "consent", "category": name}
            for name in ("newsletter", "sms", "push", "paying_customer")
        ],
    )
    assert response.status_code == 200
    assert [r["value"] for r in response.json()["results"]] == [True, False, False, True]


@pytest.mark.parametrize(
    ("props", "valid"),
    [
        ({"action": "accept", "valid_until": "unlimited"}, True),
        ({"action": "accept", "valid_until": 4102444800}, True),
        ({"action": "accept", "valid_until": "2099-01-01T00:00:00Z"}, True),
        ({"action": "accept", "valid_until": 1000}, False),
        ({"action": "accept"}, False),  # valid_until is required when accepting
        ({"action": "Accept", "valid_until": "unlimited"}, False),  # case-sensitive
        ({"action": "maybe", "valid_until": "unlimited"}, False),  # invalid revokes
        ({"action": "reject"}, False),
        ({"action": "accept", "valid_until": "soon"}, False),
    ],
)
def test_what_a_consent_event_means(world: World, props: dict[str, Any], valid: bool) -> None:
    consent_category_create(actor=factories.system(world.project), name="newsletter")
    _consent(world, {"registered": CANARY_EMAIL}, time.time(), category="newsletter", **props)
    response = _attributes(
        world,
        world.full_key,
        {"registered": CANARY_EMAIL},
        [{"type": "consent", "category": "newsletter"}],
    )
    assert response.json()["results"] == [{"success": True, "value": valid}]


def test_the_documented_payload_and_answer(world: World) -> None:
    """reference/customer-consents-2: four modes of a category the customer never
    consented to answer false, null, null, null."""
    consent_category_create(actor=factories.system(world.project), name="newsletter")
    response = _attributes(
        world,
        world.full_key,
        {"registered": CANARY_EMAIL},
        [
            {"type": "consent", "category": "newsletter", "mode": "valid"},
            {"type": "consent", "category": "newsletter", "mode": "message"},
            {"type": "consent", "category": "newsletter", "mode": "timestamp"},
            {"type": "consent", "category": "newsletter", "mode": "until"},
        ],
    )
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"success": True, "value": False},
            {"success": True, "value": None},
            {"success": True, "value": None},
            {"success": True, "value": None},
        ],
        "success": True,
    }


def test_modes_unknown_category_and_a_batch_tracked_consent(consents: World) -> None:
    batch = Client().post(
        f"/track/v2/projects/{consents.project.token}/batch",
        data=json.dumps(
            {
                "commands": [
                    {
                        "name": "customers/events",
                        "data": {
                            "customer_ids": {"registered": CANARY_EMAIL},
                            "event_type": "consent",
                            "timestamp": time.time(),
                            "properties": {
                                "action": "accept",
                                "category": "sms",
                                "valid_until": "unlimited",
                            },
                        },
                    }
                ]
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=consents.full_key.basic,
    )
    assert batch.json()["results"] == [{"success": True}]
    response = _attributes(
        consents,
        consents.full_key,
        {"registered": CANARY_EMAIL},
        [
            {"type": "consent", "category": "sms"},
            {"type": "consent", "category": "newsletter", "mode": "until"},
            {"type": "consent", "category": "newsletter", "mode": "source"},
            {"type": "consent", "category": "newsletter", "mode": "message"},
            {"type": "consent", "category": "newsletter", "mode": "timestamp"},
            {"type": "consent", "category": "nope"},
            {"type": "consent", "category": "newsletter", "mode": "everything"},
        ],
    )
    results = response.json()["results"]
    assert [r.get("value") for r in results[:4]] == [True, "unlimited", "till", CONSENT_MESSAGE]
    assert isinstance(results[4]["value"], float)
    assert results[5] == {"success": False, "error": "Attribute 6: unknown consent category."}
    assert results[6] == {"success": False, "error": "Attribute 7: unknown consent mode."}


def test_a_key_without_personal_data_gets_states_but_masked_messages(consents: World) -> None:
    response = _attributes(
        consents,
        consents.masked_key,
        SHOP,
        [
            {"type": "consent", "category": "newsletter"},
            {"type": "consent", "category": "newsletter", "mode": "message"},
            {"type": "consent", "category": "newsletter", "mode": "source"},
        ],
    )
    assert response.status_code == 200
    assert [r["value"] for r in response.json()["results"]] == [True, MASK, "till"]
    assert not [c for c in CANARIES if c in response.content.decode()]
    # A lookup by a PII ID is refused before anything is read (the hardening rule).
    refused = _attributes(
        consents,
        consents.masked_key,
        {"registered": CANARY_EMAIL},
        [{"type": "consent", "category": "newsletter"}],
    )
    assert refused.status_code == 403
    assert CANARY_EMAIL not in refused.content.decode()


def test_a_state_derived_from_a_hidden_attribute_is_masked(consents: World) -> None:
    pii_flags_set(
        actor=factories.system(consents.project), event_attributes={("consent", "action"): True}
    )
    response = _attributes(
        consents, consents.masked_key, SHOP, [{"type": "consent", "category": "newsletter"}]
    )
    assert response.json()["results"] == [{"success": True, "value": MASK}]


# The customer's consents page ---------------------------------------------------------------


def _page(world: World, user: Any, token: Any = None) -> Any:
    client = Client()
    client.force_login(user)
    url = reverse(
        "consents:customer",
        kwargs={"token": token or world.project.token, "customer_id": world.customer.pk},
    )
    return client.get(url)


def test_the_consents_page_shows_state_and_history_masked_for_a_marketer(consents: World) -> None:
    page = _page(consents, consents.marketer)
    assert page.status_code == 200
    body = page.content.decode()
    assert not [c for c in CANARIES if c in body]
    assert MASK in body and "unlimited" in body and "reject" in body
    assert body.count('data-testid="consent-state"') == 4
    admin = _page(consents, consents.admin).content.decode()
    assert CONSENT_MESSAGE in admin
    # The admin saw a PII value: the personal-data access log says so, naming the attribute.
    entry = PersonalDataAccess.objects.filter(view="consents.customer").get()
    assert "consent.message" in entry.attribute_names
    assert not PersonalDataAccess.objects.filter(
        view="consents.customer", actor_label="mark"
    ).exists()


def test_the_consents_page_is_404_for_another_projects_customer(consents: World) -> None:
    outsider = _page(consents, consents.outsider, token=consents.other_project.token)
    assert outsider.status_code == 404
    assert CANARY_EMAIL not in outsider.content.decode()


def test_the_api_hunt_covers_consent_reads(
    consents: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generic API hunt (tests/security/test_leak_crawl.py) sends a consent attribute
    body to every POST endpoint: with a Masker that lets values through, a consent
    ``message`` reaches the masked key and the hunt's leak search catches it there."""
    from tests.security import test_leak_crawl as hunt
    from tests.security.conftest import LeakWorld

    leak_world = LeakWorld(
        world=consents, power_user=consents.marketer, power_key=consents.masked_key
    )
    bodies = [b for b in hunt.GENERIC_BODIES if "consent" in json.dumps(b)]
    assert bodies, "the API hunt sends no consent attribute"
    shop = {**bodies[0], "customer_ids": SHOP}
    monkeypatch.setattr(hunt, "GENERIC_BODIES", [shop])
    clean = hunt._call_all(leak_world, consents.masked_key.basic)
    assert hunt._leaks(clean) == []
    original = Masker.__init__

    def leaky_init(self: Masker, catalog: Any, *, can_see_personal_data: bool, **kw: Any) -> None:
        original(self, catalog, can_see_personal_data=True)

    monkeypatch.setattr(Masker, "__init__", leaky_init)
    fetched = hunt._call_all(leak_world, consents.masked_key.basic)
    leaked = hunt._leaks(fetched)
    assert any("customers/attributes" in str(leak) for leak in leaked), leaked


# The official SDK ---------------------------------------------------------------------------


@pytest.fixture
def _quiet_sdk() -> Any:
    logging.getLogger("exponea-python-sdk").setLevel(logging.CRITICAL)
    yield


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_quiet_sdk")
def test_the_sdk_get_customer_consents_returns_real_booleans(
    consents: World, live_server: Any
) -> None:
    def client(creds: Any) -> Exponea:
        return Exponea(
            str(consents.project.token),
            username=creds.key.key_id,
            password=creds.secret,
            url=live_server.url,
        )

    full = client(consents.full_key)
    assert full.tracking.add_event(
        {"registered": CANARY_EMAIL},
        "consent",
        {"action": "accept", "category": "push", "valid_until": "unlimited"},
        timestamp=time.time(),
    )
    wanted = ["newsletter", "sms", "push", "paying_customer"]
    assert full.customer.get_customer_consents({"registered": CANARY_EMAIL}, wanted) == {
        "newsletter": True,
        "sms": False,
        "push": True,
        "paying_customer": True,
    }
    masked = client(consents.masked_key)
    assert masked.customer.get_customer_consents(SHOP, wanted) == {
        "newsletter": True,
        "sms": False,
        "push": True,
        "paying_customer": True,
    }
    # Unknown categories come back as None (the SDK's "no permission" branch).
    assert masked.customer.get_customer_consents(SHOP, ["nope"]) == {"nope": None}
    with pytest.raises(APIException) as refused:
        masked.customer.get_customer_consents({"registered": CANARY_EMAIL}, wanted)
    assert CANARY_EMAIL not in str(refused.value)
