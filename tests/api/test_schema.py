"""The OpenAPI schema and docs, and schemathesis fuzzing of every endpoint against the schema.

Fuzzing runs with the full key on the world's project (the generated token is replaced,
otherwise every case would be a 404), a bounded number of examples per operation, and
checks that nothing answers 5xx and every response matches the schema (status code,
content type, body).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from exponea_pii.wsgi import application
from tests.conftest import World, assert_no_canary

pytestmark = pytest.mark.django_db

API_PREFIXES = ("/track/", "/data/v2/projects/{token}/customers/")
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


def test_schema_documents_every_endpoint_with_basic_auth() -> None:
    r = Client().get("/api/schema/?format=json")
    assert r.status_code == 200
    doc = json.loads(r.content)
    paths = doc["paths"]
    for path, method in [
        ("/track/v2/projects/{token}/customers", "post"),
        ("/track/v2/projects/{token}/customers/events", "post"),
        ("/track/v2/projects/{token}/batch", "post"),
        ("/track/v2/projects/{token}/system/time", "get"),
        ("/data/v2/projects/{token}/customers/export-one", "post"),
        ("/data/v2/projects/{token}/customers/attributes", "post"),
        ("/data/v2/projects/{token}/customers/events", "post"),
        ("/data/v2/projects/{token}/customers/export", "post"),
    ]:
        operation = paths[path][method]
        assert {"200", "401", "404", "429"} <= set(operation["responses"]), path
        if method == "post":
            assert "requestBody" in operation, path
            assert {"400", "403", "413"} <= set(operation["responses"]), path
        if path.startswith("/track/"):  # a browser's public key too (tracking, time)
            assert operation["security"] == [
                {"apiKey": []},
                {"publicToken": []},
                {"publicTokenQuery": []},
            ], path
        else:
            assert operation["security"] == [{"apiKey": []}], path
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == {
        "type": "http",
        "scheme": "basic",
        "description": "HTTP Basic with the API key id as user name and its secret.",
    }
    assert (schemes["publicToken"]["in"], schemes["publicToken"]["name"]) == (
        "header",
        "Authorization",
    )
    assert (schemes["publicTokenQuery"]["in"], schemes["publicTokenQuery"]["name"]) == (
        "query",
        "access_token",
    )


def test_swagger_ui_is_served_without_a_cdn() -> None:
    r = Client().get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in html
    assert "/static/drf_spectacular_sidecar/" in html


@pytest.fixture
def fuzz_world(world: World, settings_: Any) -> Any:
    # Schemathesis calls the WSGI app directly, so Django's request signals would close the
    # test's database connection after each request (its transaction with it), as they do
    # in production. Django's own test client disconnects them the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield world
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(name="settings_")
def _no_throttle(settings: Any) -> Any:
    # Hundreds of generated requests must not be cut short by the per-key rate.
    settings.EXPONEA_API_THROTTLE_RATES = {"track": None, "data": None}
    return settings


@schema.include(
    path_regex=r"^/(track|data)/v2/projects/\{token\}/(customers|batch|system)"
).parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fuzz_api(case: Any, fuzz_world: World) -> None:
    if "anonymize" in case.path:
        pytest.skip("anonymization endpoints are fuzzed by their own issue")
    case.path_parameters = {**(case.path_parameters or {}), "token": str(fuzz_world.project.token)}
    headers = {"Authorization": fuzz_world.masked_key.basic}
    response = case.call(headers=headers)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    # The masked key never receives a canary, whatever it asks.
    assert_no_canary(response.content.decode(errors="replace"))
