# The lambdas below are called at once, inside their loop iteration.
# ruff: noqa: B023
"""Inference paths: a principal without Personal data guesses a hidden value by hand-made
URLs and bodies — a filter, a sort, an export filter on a PII attribute. Every such request
must be refused (403 naming the attribute), and the answer must not depend on whether the
guess was right: the response for the canary's real value and for a wrong value are
byte-identical once the guess itself and per-request tokens are blanked out.

The same requests by the admin are NOT refused and DO tell matching from non-matching —
which is what makes the refusal necessary, and shows these tests can fail.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.conftest import CANARY_ADDRESS, CANARY_EMAIL, CANARY_IP, CANARY_NAME

from .conftest import LeakWorld, canaries_in, signed_in
from .crawler import iter_routes, response_text

pytestmark = pytest.mark.django_db

WRONG = ["nobody@example.invalid", "zz-wrong-guess"]
# (attribute, the canary customer's real value) for PII customer attributes and IDs.
HIDDEN = [("email", CANARY_EMAIL), ("registered", CANARY_EMAIL), ("first_name", CANARY_NAME)]
OPERATORS = ["equals", "not_equals", "contains", "starts_with", "gt", "lt"]
TOKEN_NOISE = re.compile(r'(csrfmiddlewaretoken" value=")[^"]+|csrftoken=[^;\s]+')


def _normalize(text: str, guess: str) -> str:
    for variant in {guess, urlencode({"v": guess})[2:], json.dumps(guess)[1:-1]}:
        text = text.replace(variant, "GUESS")
    return TOKEN_NOISE.sub(r"\1TOKEN", text)


def _assert_refused_alike(fetch: Callable[[str], Any], real: str, *, what: str) -> str:
    """``fetch(guess)`` for the real value and wrong ones: all 403, all alike, no canary."""
    answers = {}
    for guess in [real, *WRONG]:
        response = fetch(guess)
        body = _normalize(response_text(response), guess)
        answers[guess] = (response.status_code, body)
        assert response.status_code == 403, f"{what} with {guess!r}: {response.status_code}"
        assert canaries_in(body) == [], f"{what} leaked in its refusal"
    assert len({a for a in answers.values()}) == 1, f"{what}: the answer depends on the guess"
    return answers[real][1]


def _list_url(token: str) -> str:
    return f"/projects/{token}/customers/"


def _export_url(token: str) -> str:
    return f"/projects/{token}/customers/export.csv"


def test_filter_and_sort_on_pii_in_the_customer_list_and_csv_are_refused_alike(
    leak_world: LeakWorld,
) -> None:
    client = signed_in(leak_world.world.marketer)
    token = leak_world.token
    for (attribute, real), operator, base in itertools.product(
        HIDDEN, OPERATORS, [_list_url(token), _export_url(token)]
    ):
        body = _assert_refused_alike(
            lambda g: client.get(base, {"c": f"{attribute}:{operator}:{g}"}),
            real,
            what=f"{base} c={attribute}:{operator}",
        )
        assert attribute in body  # the refusal names the attribute
        if operator != "equals":
            continue
        # The filter builder's own field names, and an explicit value type.
        _assert_refused_alike(
            lambda g: client.get(
                base, {"c0.attribute": attribute, "c0.operator": operator, "c0.value": g}
            ),
            real,
            what=f"{base} form c0={attribute}",
        )
        _assert_refused_alike(
            lambda g: client.get(base, {"c": f"{attribute}@string:{operator}:{g}"}),
            real,
            what=f"{base} typed {attribute}",
        )
    for attribute in ["email", "registered", "phone", "cookie"]:
        queries: list[tuple[str, dict[str, str]]] = [
            (base, {"c": f"{attribute}:{op}"})
            for base in [_list_url(token), _export_url(token)]
            for op in ["exists", "not_exists", "between:a..z"]
        ]
        # Sorting exists on the list only (the CSV export has no order parameter).
        queries += [
            (_list_url(token), {"sort": s}) for s in [attribute, f"-{attribute}", f" {attribute} "]
        ]
        for base, query in queries:
            response = client.get(base, query)
            assert response.status_code == 403, (base, query, response.status_code)
            assert canaries_in(response_text(response)) == []


def test_the_admin_does_get_an_answer_that_depends_on_the_guess(leak_world: LeakWorld) -> None:
    """Without the refusal a filter is an oracle: for the admin, the right guess finds the row."""
    client = signed_in(leak_world.world.admin)
    url = _list_url(leak_world.token)
    right = client.get(url, {"c": f"email:equals:{CANARY_EMAIL}"})
    wrong = client.get(url, {"c": "email:equals:nobody@example.invalid"})
    assert right.status_code == wrong.status_code == 200
    assert CANARY_NAME in response_text(right)  # the row is there (first_name column)
    assert CANARY_NAME not in response_text(wrong)


def test_non_pii_filter_works_for_the_marketer(leak_world: LeakWorld) -> None:
    """The refusals above are about PII only: the same filter on a plain attribute runs."""
    client = signed_in(leak_world.world.marketer)
    response = client.get(_list_url(leak_world.token), {"c": "plan:equals:premium"})
    assert response.status_code == 200
    assert canaries_in(response_text(response)) == []


# The API ------------------------------------------------------------------------------------


def _api_route(suffix: str) -> str | None:
    for route in iter_routes():
        if route.route.startswith("data/") and route.route.endswith(suffix):
            return route.route
    return None


def test_export_filter_on_pii_is_refused_alike(leak_world: LeakWorld) -> None:
    route = _api_route("customers/export")
    if route is None:
        pytest.skip("the export API has not landed yet")
    url = "/" + route.replace("<str:token>", leak_world.token).replace(
        "<uuid:token>", leak_world.token
    )
    client = Client()

    def export(guess: str, attribute: str, operator: str, fmt: str) -> Any:
        body = {
            "format": fmt,
            "filter": {
                "conditions": [{"attribute": attribute, "operator": operator, "value": guess}]
            },
        }
        return client.post(
            url,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=leak_world.world.masked_key.basic,
        )

    for (attribute, real), operator, fmt in itertools.product(
        HIDDEN, ["equals", "contains", "starts_with", "gt"], ["native_json", "csv"]
    ):
        body = _assert_refused_alike(
            lambda g: export(g, attribute, operator, fmt),
            real,
            what=f"API export filter {attribute} {operator} {fmt}",
        )
        assert attribute in body
    # The full key gets an answer that depends on the guess: the refusal is what protects.
    full = leak_world.world.full_key.basic
    right = client.post(
        url,
        data=json.dumps(
            {
                "format": "native_json",
                "filter": {
                    "conditions": [
                        {"attribute": "email", "operator": "equals", "value": CANARY_EMAIL}
                    ]
                },
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=full,
    )
    assert right.status_code == 200
    assert CANARY_EMAIL in response_text(right)


def test_tracked_values_of_a_pii_attribute_are_not_sent_to_a_masked_key(
    leak_world: LeakWorld,
) -> None:
    route = _api_route("data-manager/catalog")
    if route is None:
        pytest.skip("the data manager API has not landed yet")
    url = "/" + re.sub(r"<\w+:token>", leak_world.token, route)
    client = Client()
    masked = client.get(
        url, {"include": "values,suggestions"}, HTTP_AUTHORIZATION=leak_world.world.masked_key.basic
    )
    full = client.get(
        url, {"include": "values,suggestions"}, HTTP_AUTHORIZATION=leak_world.world.full_key.basic
    )
    assert masked.status_code == full.status_code == 200
    assert canaries_in(response_text(masked)) == []
    assert canaries_in(response_text(full))  # the admin's key does see samples


# The richer filter (issue 22): groups, negation, event attribute conditions, counts, segments


# (event type, PII event attribute, the canary customer's real value).
HIDDEN_EVENT = [("purchase", "shipping_address", CANARY_ADDRESS), ("page_visit", "ip", CANARY_IP)]
UUID_NOISE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _pii(attribute: str, guess: str, **extra: Any) -> dict[str, Any]:
    return {"attribute": attribute, "operator": "equals", "value": guess, **extra}


_PLAN = {"attribute": "plan", "operator": "equals", "value": "premium"}
_NO_PLAN = {"attribute": "plan", "operator": "equals", "value": "no-such-plan"}


def _json_filters(attribute: str, guess: str) -> dict[str, dict[str, Any]]:
    """A PII customer attribute inside every new kind of condition (the JSON form)."""
    return {
        "OR group": {"groups": [{"match": "any", "conditions": [_PLAN, _pii(attribute, guess)]}]},
        "negated group": {
            "groups": [{"match": "all", "not": True, "conditions": [_pii(attribute, guess)]}]
        },
        "negated condition": {"conditions": [_pii(attribute, guess, **{"not": True})]},
        "nested group": {
            "groups": [
                {
                    "match": "any",
                    "conditions": [_PLAN],
                    "groups": [
                        {"match": "all", "not": True, "conditions": [_pii(attribute, guess)]}
                    ],
                }
            ]
        },
    }


def _json_event_filters(event_type: str, attribute: str, guess: str) -> dict[str, dict[str, Any]]:
    """A PII event attribute in an event's ``where``, alone, counted, windowed, grouped."""
    where = [_pii(attribute, guess)]
    return {
        "event where": {"events": [{"event_type": event_type, "where": where}]},
        "event where, negated": {
            "events": [
                {"event_type": event_type, "where": [_pii(attribute, guess, **{"not": True})]}
            ]
        },
        "count of events where": {
            "events": [
                {"event_type": event_type, "where": where, "count": {"op": "at_least", "value": 1}}
            ]
        },
        "count exactly 0, in a window": {
            "events": [
                {
                    "event_type": event_type,
                    "where": where,
                    "count": {"op": "exactly", "value": 0},
                    "since": "2000-01-01",
                    "until": "2099-12-31",
                }
            ]
        },
        "never done where": {"events": [{"event_type": event_type, "where": where, "done": False}]},
        "event where in an OR group": {
            "groups": [
                {
                    "match": "any",
                    "conditions": [_PLAN],
                    "events": [{"event_type": event_type, "where": where}],
                }
            ]
        },
    }


def _pick(make: Callable[..., dict[str, Any]], kind: str, *names: str) -> Callable[[str], Any]:
    """guess -> ``make(*names, guess)[kind]``: one kind of filter, for any guess."""
    return lambda guess: make(*names, guess)[kind]


def _all_json_filters() -> list[tuple[str, str, Callable[[str], dict[str, Any]]]]:
    """(what, the real value, guess -> filter object) for every new kind and hidden value."""
    out: list[tuple[str, str, Callable[[str], dict[str, Any]]]] = []
    for attribute, real in HIDDEN:
        for kind in _json_filters(attribute, real):
            out.append(
                (
                    f"{kind} on {attribute}",
                    real,
                    _pick(_json_filters, kind, attribute),
                )
            )
    for event_type, attribute, real in HIDDEN_EVENT:
        for kind in _json_event_filters(event_type, attribute, real):
            out.append(
                (
                    f"{kind} on {event_type}.{attribute}",
                    real,
                    _pick(_json_event_filters, kind, event_type, attribute),
                )
            )
    return out


def _url_params(obj: dict[str, Any]) -> dict[str, list[str]]:
    """The URL form of a JSON filter: ``c=!attr:op:value``, ``e={json}``, ``g={json}``."""
    params: dict[str, list[str]] = {}
    for condition in obj.get("conditions", []):
        negation = "!" if condition.get("not") else ""
        text = f"{negation}{condition['attribute']}:{condition['operator']}:{condition['value']}"
        params.setdefault("c", []).append(text)
    for event in obj.get("events", []):
        params.setdefault("e", []).append(json.dumps(event))
    for group in obj.get("groups", []):
        params.setdefault("g", []).append(json.dumps(group))
    return params


def _form_fields(attribute: str, guess: str) -> dict[str, dict[str, str]]:
    """The HTML builder's indexed fields: cN.not, cN.group, gN.match, gN.not."""
    condition = {"c0.attribute": attribute, "c0.operator": "equals", "c0.value": guess}
    plan = {"c1.attribute": "plan", "c1.operator": "equals", "c1.value": "premium"}
    return {
        "form negated condition": {**condition, "c0.not": "1"},
        "form OR group": {**condition, "c0.group": "0", **plan, "c1.group": "0", "g0.match": "any"},
        "form negated group": {**condition, "c0.group": "0", "g0.match": "all", "g0.not": "1"},
    }


def _form_event_fields(event_type: str, attribute: str, guess: str) -> dict[str, dict[str, str]]:
    """eN.where_*, eN.count_op / eN.count, eN.since / eN.until, eN.group."""
    where = {
        "e0.event_type": event_type,
        "e0.where_attribute": attribute,
        "e0.where_operator": "equals",
        "e0.where_value": guess,
    }
    return {
        "form event where": where,
        "form count of events where": {**where, "e0.count_op": "at_least", "e0.count": "2"},
        "form window, event where": {**where, "e0.since": "2000-01-01", "e0.until": "2099-12-31"},
        "form event where in an OR group": {
            **where,
            "e0.group": "0",
            "c0.attribute": "plan",
            "c0.operator": "equals",
            "c0.value": "premium",
            "c0.group": "0",
            "g0.match": "any",
        },
    }


def _all_form_fields() -> list[tuple[str, str, Callable[[str], dict[str, str]]]]:
    out: list[tuple[str, str, Callable[[str], dict[str, str]]]] = []
    for attribute, real in HIDDEN:
        for kind in _form_fields(attribute, real):
            out.append((f"{kind} {attribute}", real, _pick(_form_fields, kind, attribute)))
    for event_type, attribute, real in HIDDEN_EVENT:
        for kind in _form_event_fields(event_type, attribute, real):
            out.append(
                (
                    f"{kind} {event_type}.{attribute}",
                    real,
                    _pick(_form_event_fields, kind, event_type, attribute),
                )
            )
    return out


def test_every_new_condition_kind_on_pii_is_refused_alike_in_the_list_and_csv(
    leak_world: LeakWorld,
) -> None:
    """g={json}, e={json} and c=!attr, then the indexed form fields, on the list and CSV."""
    client = signed_in(leak_world.world.marketer)
    bases = [_list_url(leak_world.token), _export_url(leak_world.token)]
    for (what, real, make), base in itertools.product(_all_json_filters(), bases):
        body = _assert_refused_alike(
            lambda g: client.get(base, _url_params(make(g))), real, what=f"{base} {what}"
        )
        assert what.rsplit(" on ", 1)[1] in body  # the refusal names the attribute
    for (what, real, make_form), base in itertools.product(_all_form_fields(), bases):
        _assert_refused_alike(lambda g: client.get(base, make_form(g)), real, what=f"{base} {what}")


def test_the_admin_gets_answers_that_depend_on_the_guess_in_new_kinds(
    leak_world: LeakWorld,
) -> None:
    """Without the refusal each new kind is an oracle: the canary row comes and goes."""
    client = signed_in(leak_world.world.admin)
    url = _list_url(leak_world.token)
    row = f"/customers/{leak_world.world.customer.pk}/"  # the canary customer's row links here
    oracles = [
        # An OR with a plan nobody has: only the guess decides.
        {"groups": [{"match": "any", "conditions": [_NO_PLAN, _pii("email", CANARY_EMAIL)]}]},
        _json_event_filters("purchase", "shipping_address", CANARY_ADDRESS)["event where"],
        _json_event_filters("page_visit", "ip", CANARY_IP)["count of events where"],
    ]
    for obj in oracles:
        right = client.get(url, _url_params(obj))
        wrong = client.get(
            url,
            _url_params(
                json.loads(
                    json.dumps(obj)
                    .replace(CANARY_EMAIL, WRONG[0])
                    .replace(CANARY_ADDRESS, WRONG[1])
                    .replace(CANARY_IP, WRONG[1])
                )
            ),
        )
        assert right.status_code == wrong.status_code == 200, obj
        assert row in response_text(right), obj
        assert row not in response_text(wrong), obj
    # A negated group flips it: the right guess hides the row, a wrong one shows it.
    # (AND-ed with the canary's first name, so the row is on the first page when it matches.)
    for guess, shown in [(CANARY_EMAIL, False), (WRONG[0], True)]:
        negated = _json_filters("email", guess)["negated group"]
        negated["conditions"] = [_pii("first_name", CANARY_NAME)]
        text = response_text(client.get(url, _url_params(negated)))
        assert (row in text) is shown, guess


def test_non_pii_new_kinds_work_for_the_marketer(leak_world: LeakWorld) -> None:
    """The refusals are about PII only: an OR group, a negation and an event ``where`` on
    plain attributes run for the marketer, and show no canary."""
    client = signed_in(leak_world.world.marketer)
    obj = {
        "conditions": [{"attribute": "plan", "operator": "equals", "value": "x", "not": True}],
        "events": [
            {
                "event_type": "purchase",
                "where": [{"attribute": "total", "operator": "gt", "value": 1}],
                "count": {"op": "at_least", "value": 1},
            }
        ],
        "groups": [{"match": "any", "not": True, "conditions": [_PLAN]}],
    }
    for base in [_list_url(leak_world.token), _export_url(leak_world.token)]:
        response = client.get(base, _url_params(obj))
        assert response.status_code == 200, base
        assert canaries_in(response_text(response)) == []


class _Segments:
    """Segments saved by the admin (segments.services.segment_save), one per guess."""

    def __init__(self, leak_world: LeakWorld) -> None:
        from tests import factories

        self.admin = factories.principal_of(leak_world.world.admin, leak_world.world.project)
        self.made = 0

    def save(self, obj: dict[str, Any]) -> Any:
        from customers.filters import CustomerFilter
        from segments.services import segment_save

        self.made += 1
        return segment_save(
            actor=self.admin,
            name=f"Segment {self.made}",
            customer_filter=CustomerFilter.from_api(obj),
        )


def _normalize_segment(text: str) -> str:
    return UUID_NOISE.sub("UUID", text)


def test_a_segment_using_pii_is_refused_alike_through_the_list_and_csv(
    leak_world: LeakWorld,
) -> None:
    """The admin saves a segment on a PII attribute; the marketer opens it as the list's
    Segments menu would (the list URL with its filter) and exports it as CSV."""
    segments = _Segments(leak_world)
    client = signed_in(leak_world.world.marketer)
    cases = [
        ("email", CANARY_EMAIL, lambda g: _json_filters("email", g)["OR group"]),
        ("first_name", CANARY_NAME, lambda g: _json_filters("first_name", g)["negated condition"]),
        (
            "purchase.shipping_address",
            CANARY_ADDRESS,
            lambda g: _json_event_filters("purchase", "shipping_address", g)[
                "count of events where"
            ],
        ),
    ]
    for (named, real, make), base in itertools.product(
        cases, [_list_url(leak_world.token), _export_url(leak_world.token)]
    ):

        def apply(guess: str) -> Any:
            from customers.filters import CustomerFilter

            segment = segments.save(make(guess))
            query = CustomerFilter.from_api(segment.definition).to_querystring()
            return client.get(f"{base}?{query}")

        body = _assert_refused_alike(apply, real, what=f"segment on {named} at {base}")
        assert named in body
    # The marketer's list and Segments page offer none of those segments and show no value.
    for url in [_list_url(leak_world.token), f"/projects/{leak_world.token}/segments/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response_text(response)
        assert canaries_in(text) == [], url
        assert "shipping_address" not in text or url.endswith("/segments/"), url
    # The admin's Segments page offers them to open (so the check above can fail): the
    # segment's row has its "Open" link for the admin, not for the marketer.
    segments_url = f"/projects/{leak_world.token}/segments/"
    admin_page = response_text(signed_in(leak_world.world.admin).get(segments_url))
    marketer_page = response_text(client.get(segments_url))
    assert "Segment 1" in admin_page and admin_page.count(">Open</a>") >= 1
    assert marketer_page.count(">Open</a>") < admin_page.count(">Open</a>")


def test_a_segment_using_pii_is_refused_alike_through_the_export_api(
    leak_world: LeakWorld,
) -> None:
    """``{"type": "segment", "segmentation_id": ...}`` with a masked key: 403, alike."""
    route = _api_route("customers/export")
    if route is None:
        pytest.skip("the export API has not landed yet")
    url = "/" + re.sub(r"<\w+:token>", leak_world.token, route)
    segments = _Segments(leak_world)
    client = Client()

    def export(obj: dict[str, Any], fmt: str, key: str) -> Any:
        return client.post(
            url,
            data=json.dumps({"format": fmt, "filter": obj}),
            content_type="application/json",
            HTTP_AUTHORIZATION=key,
        )

    masked = leak_world.world.masked_key.basic
    cases = [
        ("email", CANARY_EMAIL, lambda g: _json_filters("email", g)["negated group"]),
        ("registered", CANARY_EMAIL, lambda g: _json_filters("registered", g)["nested group"]),
        (
            "page_visit.ip",
            CANARY_IP,
            lambda g: _json_event_filters("page_visit", "ip", g)["event where in an OR group"],
        ),
    ]
    for (named, real, make), fmt in itertools.product(cases, ["native_json", "csv"]):

        def by_segment(guess: str) -> Any:
            segment = segments.save(make(guess))
            obj = {"type": "segment", "segmentation_id": str(segment.public_id)}
            response = export(obj, fmt, masked)
            response.content = _normalize_segment(response_text(response)).encode()
            return response

        body = _assert_refused_alike(by_segment, real, what=f"API segment on {named} {fmt}")
        assert named in body
    # The same filters sent inline (our extension) are refused alike too.
    for (what, real, make_obj), fmt in itertools.product(
        _all_json_filters(), ["native_json", "csv"]
    ):
        _assert_refused_alike(
            lambda g: export(make_obj(g), fmt, masked), real, what=f"API filter {what} {fmt}"
        )
    # The full key gets the segment's customers: the refusal is what protects.
    segment = segments.save(_json_filters("email", CANARY_EMAIL)["OR group"])
    full = export(
        {"type": "segment", "segmentation_id": str(segment.public_id)},
        "native_json",
        leak_world.world.full_key.basic,
    )
    assert full.status_code == 200
    assert CANARY_EMAIL in response_text(full)


def test_saving_a_segment_on_pii_is_refused_alike_to_the_marketer(leak_world: LeakWorld) -> None:
    """The marketer cannot save (and so probe through) a segment on a PII attribute."""
    from segments.models import Segment

    client = signed_in(leak_world.world.marketer)
    url = f"/projects/{leak_world.token}/segments/save/"
    for what, real, make in _all_json_filters()[:6]:
        from customers.filters import CustomerFilter

        _assert_refused_alike(
            lambda g: client.post(
                url,
                {"name": "probe", "filter": CustomerFilter.from_api(make(g)).to_querystring()},
            ),
            real,
            what=f"save segment {what}",
        )
    assert not Segment.objects.filter(name="probe").exists()
