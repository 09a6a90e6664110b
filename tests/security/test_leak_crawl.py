"""The leak hunt: crawl every page and call every API endpoint as principals without Personal
data, and search everything they receive — and everything logged meanwhile — for canaries.

Generic on purpose: pages are found by following the navigation, API endpoints by walking
the URL resolver, so whatever page or endpoint is added later is hunted automatically. The
same crawl as the admin and the same calls with a full key MUST find the canaries, and a
planted leak (a Masker that passes values through, or logs them) MUST be caught; otherwise
the hunt would prove nothing.
"""

from __future__ import annotations

import itertools
import json
import logging
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from customers.models import AnonymizationJob
from datamanager.masking import Masker
from tests.conftest import CANARY_EMAIL

from .conftest import (
    CONTROL_VALUE,
    LeakWorld,
    canaries_in,
    canary_kinds_missing,
    signed_in,
    start_urls,
)
from .crawler import Crawler, Fetched, flatten_response, iter_routes

pytestmark = pytest.mark.django_db

API_PREFIXES = ("track/", "data/")
# POSTs that destroy the canaries (anonymization) are hunted in their own test below.
DESTRUCTIVE = ("anonymize",)
# The Authorization API rotates or revokes the calling key itself and answers no customer
# data (a new secret at most): called here, it would lock the hunt's own key out mid-way.
# Tested in tests/access/test_key_rotation.py.
NOT_HUNTED = ("access-keys/",)
READ_IDS = {"registered": CANARY_EMAIL}
# Generic bodies: every POST endpoint gets each; the right one does the work, the others
# exercise the error paths (whose messages must not echo values either).
GENERIC_BODIES: list[dict[str, Any]] = [
    {"customer_ids": READ_IDS},
    {
        "customer_ids": READ_IDS,
        "attributes": [
            *(
                {"type": "property", "property": p}
                for p in ("email", "phone", "first_name", "city")
            ),
            {"type": "id", "id": "registered"},
            {"type": "id", "id": "cookie"},
            # Consent state (issue 15): a consent event's message is personal data.
            {"type": "consent", "category": "newsletter", "mode": "message"},
            {"type": "consent", "category": "newsletter"},
        ],
    },
    {"customer_ids": READ_IDS, "event_types": ["page_visit", "purchase"], "limit": 50},
    {"format": "native_json"},
    {"format": "csv"},
    {"format": "csv", "attributes": [{"type": "property", "property": "email"}]},
    {
        "customer_ids": {"cookie": "ck-leak-hunt-new"},
        "event_type": "page_visit",
        "properties": {"url": "/"},
    },
    {"commands": [{"name": "system/time", "data": {}}]},
    {},
]
STR_PARAM_VALUES = ["email", "purchase"]


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def _cache_text() -> str:
    """What the local-memory cache holds, unpickled to text (Redis is checked in CI runs)."""
    cache = caches["default"]
    store = getattr(cache, "_cache", None)
    if not isinstance(store, dict):
        return ""
    parts = []
    for key, value in store.items():
        try:
            parts.append(f"{key} {pickle.loads(value)!r}")  # noqa: S301 - our own cache
        except Exception:
            parts.append(f"{key} {value!r}")
    return "\n".join(parts)


def _leaks(fetched: list[Fetched]) -> list[tuple[str, str, int, list[str]]]:
    out = []
    for f in fetched:
        found = canaries_in(f.everything())
        if found:
            out.append((f.method, f"{f.url} {f.sent}".strip(), f.status, found))
    return out


def _crawl(client: Client, token: str, max_requests: int = 300) -> Crawler:
    crawler = Crawler(client, max_requests=max_requests)
    crawler.crawl(start_urls(token))
    return crawler


# The crawl ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["marketer", "power_user"])
def test_crawl_without_personal_data_finds_no_canary(
    leak_world: LeakWorld, who: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = leak_world.world.marketer if who == "marketer" else leak_world.power_user
    crawler = _crawl(signed_in(user), leak_world.token)

    assert _leaks(crawler.fetched) == []
    assert canaries_in(_log_text(caplog)) == []
    assert canaries_in(_cache_text()) == []
    assert [(f.url, f.status) for f in crawler.fetched if f.status >= 500] == []
    # The crawl must have reached customer data, or finding nothing proves nothing.
    assert any(CONTROL_VALUE in f.body for f in crawler.fetched), (
        f"crawl never showed a customer value; visited {[f.url for f in crawler.fetched]}"
    )
    if who == "power_user":  # holds every permission but Personal data: sees every page
        assert _unreached_pages(crawler, leak_world.token) == []
        # Including the access log and a customer's access history, with entries in them.
        history = [f for f in crawler.fetched if "/access-log/customers/" in f.url]
        assert [f.status for f in history][:1] == [200]
        assert any("customers.export_csv" in f.body for f in history), [f.url for f in history]


def test_crawl_as_admin_finds_every_canary(leak_world: LeakWorld) -> None:
    crawler = _crawl(signed_in(leak_world.world.admin), leak_world.token)
    seen = "\n".join(f.everything() for f in crawler.fetched)
    assert canary_kinds_missing(seen) == []
    # Whatever carries personal data must never be stored by a browser or a proxy.
    stored = [
        f.url
        for f in crawler.fetched
        if canaries_in(f.body) and "no-store" not in _header(f, "Cache-Control")
    ]
    assert stored == []


def _header(fetched: Fetched, name: str) -> str:
    for line in fetched.headers.splitlines():
        key, _, value = line.partition(": ")
        if key.lower() == name.lower():
            return value
    return ""


def _unreached_pages(crawler: Crawler, token: str) -> list[str]:
    """Parameterless GET pages of a project (answering 200) that no crawled page links to.

    A page that lands but is linked from nowhere is a page the hunt would miss; POST-only
    endpoints that answer GET with a redirect or 405 are not pages.
    """
    ok_paths = crawler.linked
    pages = {
        r.build({"token": token})
        for r in iter_routes()
        if r.route.startswith("projects/")
        and [name for _, name in r.params] == ["token"]
        and "get" in r.allowed_methods()
    }
    return sorted(p for p in pages - ok_paths if crawler.client.get(p).status_code == 200)


# The API ------------------------------------------------------------------------------------


def _param_values(leak_world: LeakWorld, conv: str, name: str) -> list[Any]:
    if name == "token":
        return [leak_world.token]
    if conv == "uuid":
        jobs = list(
            AnonymizationJob.objects.filter(project=leak_world.world.project).values_list(
                "public_id", flat=True
            )[:2]
        )
        return [*jobs, uuid.uuid4()]
    if conv == "int":
        return [leak_world.world.customer.pk]
    return STR_PARAM_VALUES


def api_calls(
    leak_world: LeakWorld, *, destructive: bool = False
) -> Iterator[tuple[str, str, Any]]:
    """(method, url, body) for every API route and method, with every generic body."""
    for route in iter_routes():
        if not route.route.startswith(API_PREFIXES) or any(n in route.route for n in NOT_HUNTED):
            continue
        choices = [_param_values(leak_world, c, n) for c, n in route.params]
        names = [n for _, n in route.params]
        is_destructive = any(d in route.route for d in DESTRUCTIVE)
        for combo in itertools.product(*choices):
            url = route.build(dict(zip(names, combo, strict=True)))
            methods = route.allowed_methods()
            if "get" in methods:
                yield "get", url, None
                # Optional extras some GETs offer (the catalog's tracked value samples).
                yield "get", url + "?include=values,suggestions", None
            if "post" in methods and is_destructive == destructive:
                for body in GENERIC_BODIES:
                    yield "post", url, body


def _call(client: Client, basic: str, method: str, url: str, body: Any) -> Fetched:
    if body is None:
        response = getattr(client, method)(url, HTTP_AUTHORIZATION=basic)
    else:
        response = getattr(client, method)(
            url, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=basic
        )
    return flatten_response(method.upper(), url, response, sent=json.dumps(body))


def _call_all(leak_world: LeakWorld, basic: str, **kw: Any) -> list[Fetched]:
    client = Client()
    return [_call(client, basic, m, u, b) for m, u, b in api_calls(leak_world, **kw)]


@pytest.mark.parametrize("which", ["masked_key", "power_key"])
def test_every_api_endpoint_without_personal_data_returns_no_canary(
    leak_world: LeakWorld, which: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = leak_world.world.masked_key if which == "masked_key" else leak_world.power_key
    fetched = _call_all(leak_world, creds.basic)
    assert fetched, "no API routes found"
    assert _leaks(fetched) == []
    assert canaries_in(_log_text(caplog)) == []
    assert [(f.url, f.status, f.body[:200]) for f in fetched if f.status >= 500] == []
    assert any(CONTROL_VALUE in f.body for f in fetched) or not _has_read_api(), (
        "no API response carried a customer value"
    )


def _has_read_api() -> bool:
    return any(r.route.startswith("data/") and "customers/" in r.route for r in iter_routes())


def test_every_api_endpoint_with_a_full_key_returns_the_canaries(leak_world: LeakWorld) -> None:
    if not _has_read_api():
        pytest.skip("the data API has not landed yet")
    fetched = _call_all(leak_world, leak_world.world.full_key.basic)
    seen = "\n".join(f.everything() for f in fetched)
    assert canary_kinds_missing(seen) == []
    stored = [
        f.url
        for f in fetched
        if canaries_in(f.body) and "no-store" not in _header(f, "Cache-Control")
    ]
    assert stored == []


def test_anonymization_endpoints_answer_without_canaries(leak_world: LeakWorld) -> None:
    """Anonymization POSTs destroy canaries, so they are hunted last and on their own."""
    creds = leak_world.world.masked_key
    fetched = _call_all(leak_world, creds.basic, destructive=True)
    # Then every GET once more (job status pages now have jobs to show).
    fetched += _call_all(leak_world, creds.basic)
    assert _leaks(fetched) == []
    assert [(f.url, f.status) for f in fetched if f.status >= 500] == []


# The hunt can fail --------------------------------------------------------------------------


def _plant_pass_through_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Masker.__init__

    def leaky_init(self: Masker, catalog: Any, *, can_see_personal_data: bool) -> None:
        original(self, catalog, can_see_personal_data=True)

    monkeypatch.setattr(Masker, "__init__", leaky_init)


def test_planted_leak_in_the_masker_is_caught_by_the_crawl(
    leak_world: LeakWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant_pass_through_masker(monkeypatch)
    crawler = _crawl(signed_in(leak_world.world.marketer), leak_world.token, max_requests=40)
    leaks = _leaks(crawler.fetched)
    assert leaks, "a Masker that passes values through went unnoticed"
    found = {c for *_, cs in leaks for c in cs}
    assert CANARY_EMAIL in found


def test_planted_leak_in_the_masker_is_caught_by_the_api_hunt(
    leak_world: LeakWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _has_read_api():
        pytest.skip("the data API has not landed yet")
    _plant_pass_through_masker(monkeypatch)
    assert _leaks(_call_all(leak_world, leak_world.world.masked_key.basic))


def test_planted_leak_into_the_logs_is_caught(
    leak_world: LeakWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    original = Masker.customer_value
    log = logging.getLogger("planted.leak")

    def logging_value(self: Masker, name: str, value: Any) -> Any:
        log.debug("rendering %s=%s", name, value)  # the plant: a raw value into the logs
        return original(self, name, value)

    monkeypatch.setattr(Masker, "customer_value", logging_value)
    crawler = _crawl(signed_in(leak_world.world.marketer), leak_world.token, max_requests=40)
    assert _leaks(crawler.fetched) == []  # the pages stay clean...
    assert canaries_in(_log_text(caplog))  # ...and the log search still finds the leak
