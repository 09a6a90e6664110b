"""The richer customer filter (issue 22): every condition kind against a hand-computed set
of customers, the three forms (URL, JSON, HTML form) reading the same filter, and the PII
refusal inside groups, negations, event attribute conditions and counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from access.errors import InvalidInput, PiiFieldRefused
from customers.filters import CustomerFilter, customers_matching
from customers.services import event_track
from datamanager.services import pii_flags_set
from tests import factories

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def shop() -> dict[str, Any]:
    """Six customers, A to F; the comments say what each one is for."""
    project = factories.make_project("Filter shop")

    actor = factories.system(project)

    def customer(key: str, props: dict[str, Any], events: list[tuple[str, dict, int]]) -> int:
        ids = {"registered": f"{key}@f.test"}
        tracked = factories.track_customer(project, ids, props)
        for event_type, properties, days_ago in events:
            when = (NOW - dt.timedelta(days=days_ago)).timestamp()
            event_track(
                actor=actor, ids=ids, event_type=event_type, timestamp=when, properties=properties
            )
        return tracked.pk

    ids = {
        # two big recent purchases, visited checkout
        "A": customer(
            "a",
            {"plan": "premium", "city": "Bratislava", "age": 30, "tags": ["vip", "eu"]},
            [
                ("purchase", {"total": 150, "card": "4111 1111"}, 3),
                ("purchase", {"total": 180, "card": "4111 1111"}, 5),
                ("page_visit", {"url": "/checkout"}, 2),
            ],
        ),
        # one small purchase, visited checkout
        "B": customer(
            "b",
            {"plan": "free", "city": "Košice", "age": 45, "tags": ["eu"]},
            [("purchase", {"total": 50}, 10), ("page_visit", {"url": "/checkout"}, 1)],
        ),
        # only browsed the home page, no city
        "C": customer("c", {"plan": "free", "age": 19}, [("page_visit", {"url": "/home"}, 4)]),
        # one big purchase long ago, boolean and date properties
        "D": customer(
            "d",
            {"plan": "premium", "vip": True, "signup": "2024-03-01", "city": "Nitra"},
            [("purchase", {"total": 120}, 400)],
        ),
        # visited checkout, never purchased
        "E": customer(
            "e", {"plan": "free", "vip": False}, [("page_visit", {"url": "/checkout"}, 6)]
        ),
        # nothing at all
        "F": customer("f", {"plan": "trial"}, []),
    }
    admin = factories.make_member(project, "ada", roles=("Admin",))
    marketer = factories.make_member(project, "max", roles=("Marketer",))
    pii_flags_set(
        actor=factories.system(project),
        customer_attributes={"registered": True, "city": True},
        event_attributes={("purchase", "card"): True},
    )
    return {
        "ids": ids,
        "admin": factories.principal_of(admin, project),
        "marketer": factories.principal_of(marketer, project),
    }


def _names(shop: dict[str, Any], customer_filter: CustomerFilter) -> set[str]:
    pks = set(customers_matching(shop["admin"], customer_filter).values_list("pk", flat=True))
    return {name for name, pk in shop["ids"].items() if pk in pks}


def _api(shop: dict[str, Any], obj: dict[str, Any]) -> set[str]:
    return _names(shop, CustomerFilter.from_api(obj))


def _plan(value: str, **extra: Any) -> dict[str, Any]:
    return {"attribute": "plan", "operator": "equals", "value": value, **extra}


def test_or_group(shop: dict[str, Any]) -> None:
    group = {"match": "any", "conditions": [_plan("premium"), _plan("trial")]}
    assert _api(shop, {"groups": [group]}) == {"A", "D", "F"}


def test_and_group_inside_or_group(shop: dict[str, Any]) -> None:
    inner = {
        "match": "all",
        "conditions": [_plan("free"), {"attribute": "age", "operator": "gt", "value": 40}],
    }
    group = {"match": "any", "conditions": [_plan("trial")], "groups": [inner]}
    assert _api(shop, {"groups": [group]}) == {"B", "F"}


def test_negated_condition_includes_customers_without_the_attribute(shop: dict[str, Any]) -> None:
    condition = {"attribute": "age", "operator": "gt", "value": 25, "not": True}
    assert _api(shop, {"conditions": [condition]}) == {"C", "D", "E", "F"}


def test_negated_group(shop: dict[str, Any]) -> None:
    group = {
        "match": "any",
        "not": True,
        "conditions": [_plan("premium"), {"attribute": "age", "operator": "exists"}],
    }
    assert _api(shop, {"groups": [group]}) == {"E", "F"}


def test_event_attribute_condition(shop: dict[str, Any]) -> None:
    event = {
        "event_type": "purchase",
        "where": [{"attribute": "total", "operator": "gt", "value": 100}],
    }
    assert _api(shop, {"events": [event]}) == {"A", "D"}


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        ({"op": "at_least", "value": 2}, {"A"}),
        ({"op": "at_most", "value": 1}, {"B", "C", "D", "E", "F"}),
        ({"op": "exactly", "value": 1}, {"B", "D"}),
        ({"op": "exactly", "value": 0}, {"C", "E", "F"}),
        ({"op": "at_least", "value": 1}, {"A", "B", "D"}),
    ],
)
def test_event_counts(shop: dict[str, Any], count: dict[str, Any], expected: set[str]) -> None:
    assert _api(shop, {"events": [{"event_type": "purchase", "count": count}]}) == expected


def test_count_of_events_with_an_attribute_condition(shop: dict[str, Any]) -> None:
    event = {
        "event_type": "purchase",
        "where": [{"attribute": "total", "operator": "gt", "value": 100}],
        "count": {"op": "at_least", "value": 2},
        "within_days": 30,
    }
    assert _api(shop, {"events": [event]}) == {"A"}


def test_time_windows(shop: dict[str, Any]) -> None:
    assert _api(shop, {"events": [{"event_type": "purchase", "within_days": 30}]}) == {"A", "B"}
    old = (NOW - dt.timedelta(days=401)).date().isoformat()
    older = (NOW - dt.timedelta(days=399)).date().isoformat()
    window = {"event_type": "purchase", "since": old, "until": older}
    assert _api(shop, {"events": [window]}) == {"D"}


def test_checkout_visitors_who_never_purchased_or_big_repeat_buyers(shop: dict[str, Any]) -> None:
    """The issue's example segment."""
    big_twice = {
        "event_type": "purchase",
        "where": [{"attribute": "total", "operator": "gt", "value": 100}],
        "count": {"op": "at_least", "value": 2},
        "within_days": 30,
    }
    checkout_only = {
        "match": "all",
        "events": [
            {
                "event_type": "page_visit",
                "where": [{"attribute": "url", "operator": "equals", "value": "/checkout"}],
            },
            {"event_type": "purchase", "done": False},
        ],
    }
    group = {"match": "any", "events": [big_twice], "groups": [checkout_only]}
    assert _api(shop, {"groups": [group]}) == {"A", "E"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"attribute": "vip", "operator": "equals", "value": True}, {"D"}),
        ({"attribute": "vip", "operator": "equals", "value": False}, {"E"}),
        ({"attribute": "signup", "operator": "gt", "value": "2024-01-01", "type": "date"}, {"D"}),
        ({"attribute": "age", "operator": "between", "value": [19, 30]}, {"A", "C"}),
        ({"attribute": "tags", "operator": "contains", "value": "vip"}, {"A"}),
        ({"attribute": "tags", "operator": "contains", "value": "eu"}, {"A", "B"}),
        ({"attribute": "vip", "operator": "exists"}, {"D", "E"}),
        ({"attribute": "vip", "operator": "not_exists"}, {"A", "B", "C", "F"}),
    ],
)
def test_property_conditions_on_every_type(
    shop: dict[str, Any], condition: dict[str, Any], expected: set[str]
) -> None:
    assert _api(shop, {"conditions": [condition]}) == expected


def test_the_three_forms_read_the_same_filter(shop: dict[str, Any]) -> None:
    obj = {
        "conditions": [{"attribute": "age", "operator": "gt", "value": 20, "not": True}],
        "events": [
            {
                "event_type": "purchase",
                "where": [{"attribute": "total", "operator": "gt", "value": 10}],
                "count": {"op": "at_most", "value": 1},
            }
        ],
        "groups": [{"match": "any", "conditions": [_plan("free"), _plan("trial")]}],
    }
    from_json = CustomerFilter.from_api(obj)
    from_url = CustomerFilter.from_string(from_json.to_querystring())
    assert from_url == from_json
    assert CustomerFilter.from_api(from_json.to_api()) == from_json
    form = {
        "c0.attribute": ["age"],
        "c0.operator": ["gt"],
        "c0.value": ["20"],
        "c0.not": ["1"],
        "c1.attribute": ["plan"],
        "c1.operator": ["equals"],
        "c1.value": ["free"],
        "c1.group": ["0"],
        "c2.attribute": ["plan"],
        "c2.operator": ["equals"],
        "c2.value": ["trial"],
        "c2.group": ["0"],
        "g0.match": ["any"],
        "e0.event_type": ["purchase"],
        "e0.where_attribute": ["total"],
        "e0.where_operator": ["gt"],
        "e0.where_value": ["10"],
        "e0.count_op": ["at_most"],
        "e0.count": ["1"],
    }
    from_form = CustomerFilter.from_querydict(form)
    assert _names(shop, from_form) == _names(shop, from_json) == {"C", "E", "F"}


@pytest.mark.parametrize(
    "obj",
    [
        {"groups": [{"match": "some", "conditions": [_plan("x")]}]},
        {"groups": [{"match": "any"}]},
        {"events": [{"event_type": "purchase", "count": {"op": "many", "value": 2}}]},
        {"events": [{"event_type": "purchase", "count": {"op": "at_least", "value": -1}}]},
        {
            "events": [
                {"event_type": "purchase", "done": False, "count": {"op": "at_least", "value": 2}}
            ]
        },
        {"events": [{"event_type": "purchase", "since": "2025-02-30"}]},
        {"events": [{"event_type": "purchase", "since": "2025-03-02", "until": "2025-03-01"}]},
        {
            "events": [
                {"event_type": "purchase", "where": [{"attribute": "total", "operator": "gt"}]}
            ]
        },
        {"groups": [{"groups": [{"groups": [{"groups": [{"conditions": [_plan("x")]}]}]}]}]},
    ],
)
def test_malformed_groups_and_events_are_400(obj: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        CustomerFilter.from_api(obj)


# The one rule on every new condition ---------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {
            "groups": [
                {
                    "match": "any",
                    "conditions": [
                        _plan("free"),
                        {"attribute": "city", "operator": "equals", "value": "Nitra"},
                    ],
                }
            ]
        },
        {"conditions": [{"attribute": "city", "operator": "exists", "not": True}]},
        {
            "groups": [
                {
                    "match": "all",
                    "not": True,
                    "groups": [
                        {
                            "conditions": [
                                {"attribute": "registered", "operator": "contains", "value": "a"}
                            ]
                        }
                    ],
                }
            ]
        },
        {
            "events": [
                {
                    "event_type": "purchase",
                    "where": [{"attribute": "card", "operator": "starts_with", "value": "4111"}],
                }
            ]
        },
        {
            "events": [
                {
                    "event_type": "purchase",
                    "where": [{"attribute": "card", "operator": "exists"}],
                    "count": {"op": "at_least", "value": 2},
                }
            ]
        },
        {
            "groups": [
                {
                    "match": "any",
                    "events": [
                        {
                            "event_type": "purchase",
                            "where": [
                                {
                                    "attribute": "card",
                                    "operator": "equals",
                                    "value": "x",
                                    "not": True,
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    ],
)
def test_pii_is_refused_inside_every_new_condition(
    shop: dict[str, Any], obj: dict[str, Any]
) -> None:
    customer_filter = CustomerFilter.from_api(obj)
    with pytest.raises(PiiFieldRefused) as refused:
        customers_matching(shop["marketer"], customer_filter)
    assert refused.value.attribute in {"city", "registered", "purchase.card"}
    assert customers_matching(shop["admin"], customer_filter).exists() in (True, False)


def test_the_refusal_is_the_same_whatever_the_value(shop: dict[str, Any]) -> None:
    def refusal(value: str) -> str:
        event = {
            "event_type": "purchase",
            "where": [{"attribute": "card", "operator": "equals", "value": value}],
        }
        with pytest.raises(PiiFieldRefused) as refused:
            customers_matching(shop["marketer"], CustomerFilter.from_api({"events": [event]}))
        return str(refused.value.message)

    right, wrong = refusal("4111 1111"), refusal("0000 0000")
    assert right == wrong and "purchase.card" in right and "4111" not in right


def test_non_pii_event_attributes_stay_open_to_the_marketer(shop: dict[str, Any]) -> None:
    event = {
        "event_type": "purchase",
        "where": [{"attribute": "total", "operator": "gt", "value": 100}],
    }
    pks = customers_matching(shop["marketer"], CustomerFilter.from_api({"events": [event]}))
    assert set(pks.values_list("pk", flat=True)) == {shop["ids"]["A"], shop["ids"]["D"]}


# "Has consented to" (issue 15 item 4) --------------------------------------------------------


@pytest.fixture
def consenting() -> dict[str, Any]:
    from consents.services import consent_category_create

    project = factories.make_project("Consent shop")
    actor = factories.system(project)
    consent_category_create(actor=actor, name="newsletter")
    consent_category_create(actor=actor, name="profiling", legitimate_interest=True)
    future = (NOW + dt.timedelta(days=30)).timestamp()
    past = (NOW - dt.timedelta(days=1)).timestamp()
    plan: dict[str, list[tuple[str, str, Any, int]]] = {
        "unlimited": [("newsletter", "accept", "unlimited", 5)],
        "withdrawn": [("newsletter", "accept", "unlimited", 9), ("newsletter", "reject", None, 2)],
        "expired": [("newsletter", "accept", past, 40)],
        "ahead": [("newsletter", "accept", future, 3), ("profiling", "reject", None, 3)],
        "silent": [],
    }
    ids = {}
    for key, events in plan.items():
        who = {"registered": f"{key}@consent.test"}
        ids[key] = factories.track_customer(project, who, {"plan": "free"}).pk
        for category, action, until, days_ago in events:
            event_track(
                actor=actor,
                ids=who,
                event_type="consent",
                timestamp=(NOW - dt.timedelta(days=days_ago)).timestamp(),
                properties={"category": category, "action": action, "valid_until": until},
            )
    admin = factories.principal_of(
        factories.make_member(project, "cara", roles=("Admin",)), project
    )
    marketer = factories.principal_of(
        factories.make_member(project, "mo", roles=("Marketer",)), project
    )
    return {"ids": ids, "admin": admin, "marketer": marketer, "project": project}


def _consenting(shop: dict[str, Any], obj: dict[str, Any]) -> set[str]:
    pks = set(
        customers_matching(shop["admin"], CustomerFilter.from_api(obj)).values_list("pk", flat=True)
    )
    return {name for name, pk in shop["ids"].items() if pk in pks}


def test_has_consented_follows_the_latest_event(consenting: dict[str, Any]) -> None:
    assert _consenting(consenting, {"consents": [{"category": "newsletter"}]}) == {
        "unlimited",
        "ahead",
    }
    refused = {"consents": [{"category": "newsletter", "granted": False}]}
    assert _consenting(consenting, refused) == {"withdrawn", "expired", "silent"}


def test_legitimate_interest_counts_until_the_customer_objects(consenting: dict[str, Any]) -> None:
    assert _consenting(consenting, {"consents": [{"category": "profiling"}]}) == {
        "unlimited",
        "withdrawn",
        "expired",
        "silent",
    }


def test_consent_in_an_or_group_and_in_the_url_form(consenting: dict[str, Any]) -> None:
    group = {
        "match": "any",
        "consents": [{"category": "newsletter"}, {"category": "profiling", "granted": False}],
    }
    assert _consenting(consenting, {"groups": [group]}) == {"unlimited", "ahead"}
    url = CustomerFilter.from_string("k=newsletter&k=!profiling")
    assert url == CustomerFilter.from_api(
        {"consents": [{"category": "newsletter"}, {"category": "profiling", "granted": False}]}
    )
    assert CustomerFilter.from_string(url.to_querystring()) == url
    assert _consenting(consenting, url.to_api()) == {"ahead"}


def test_a_consent_condition_is_refused_when_its_state_is_personal_data(
    consenting: dict[str, Any],
) -> None:
    customer_filter = CustomerFilter.from_api({"consents": [{"category": "newsletter"}]})
    assert customers_matching(consenting["marketer"], customer_filter).count() == 2
    pii_flags_set(
        actor=factories.system(consenting["project"]),
        event_attributes={("consent", "valid_until"): True},
    )
    with pytest.raises(PiiFieldRefused) as refused:
        customers_matching(consenting["marketer"], customer_filter)
    assert refused.value.attribute == "consent.valid_until"


def test_the_builder_keeps_what_it_cannot_show_so_a_resubmit_selects_the_same() -> None:
    """Consents, nested groups and events with several attribute conditions have no form
    row; they ride along as hidden parameters, so submitting the form again neither widens
    nor narrows the filter."""
    from customers.forms import builder_rows

    original = CustomerFilter.from_api(
        {
            "conditions": [_plan("free")],
            "consents": [{"category": "newsletter"}],
            "events": [
                {
                    "event_type": "purchase",
                    "where": [
                        {"attribute": "total", "operator": "gt", "value": 1},
                        {"attribute": "total", "operator": "lt", "value": 9},
                    ],
                }
            ],
            "groups": [
                {"match": "any", "consents": [{"category": "sms"}], "conditions": [_plan("x")]},
                {"match": "all", "groups": [{"conditions": [_plan("y")]}]},
            ],
        }
    )
    builder = builder_rows(original)
    form: dict[str, list[str]] = {}
    for name, value, _label in builder.kept:
        form.setdefault(name, []).append(value)
    for row in builder.conditions:
        if row.attribute:
            form[row.prefix + "attribute"] = [row.attribute]
            form[row.prefix + "operator"] = [row.operator]
            form[row.prefix + "value"] = [row.value]
            if row.group:
                form[row.prefix + "group"] = [row.group]
    resubmitted = CustomerFilter.from_querydict(form)
    assert sorted(resubmitted.describe()) == sorted(original.describe())
    assert resubmitted.all_consents == original.all_consents
