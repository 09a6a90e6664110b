"""Helpers for the HTTP API tests: a JSON client authenticated with one of the world's keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests.conftest import World
from tests.factories import KeyCredentials

Call = Callable[..., Any]


class ApiClient:
    """Posts JSON to the project's API paths with HTTP Basic credentials."""

    def __init__(self, token: str, credentials: KeyCredentials | None) -> None:
        self.client = Client()
        self.token = token
        self.credentials = credentials

    def _headers(self) -> dict[str, Any]:
        if self.credentials is None:
            return {}
        return {"HTTP_AUTHORIZATION": self.credentials.basic}

    def url(self, path: str, *, api: str = "data") -> str:
        if api == "track":
            return f"/track/v2/projects/{self.token}/{path}"
        return f"/data/v2/projects/{self.token}/{path}"

    def post(self, path: str, body: Any, *, api: str = "data", raw: bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(
            self.url(path, api=api), data=data, content_type="application/json", **self._headers()
        )

    def track(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.post(path, body, api="track", **kwargs)

    def get(self, path: str, *, api: str = "track") -> Any:
        return self.client.get(self.url(path, api=api), **self._headers())


def body_text(response: Any) -> str:
    """The whole body as text, streamed or not."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# A non-PII soft ID of the canary customer: a key without Personal data may look a
# customer up only by an ID that is not personal data (issue 12, item 4).
CRM_ID = {"crm_id": "crm-canary-1"}


@pytest.fixture
def crm_id(world: World) -> dict[str, str]:
    """Declare ``crm_id`` (an ID, not PII) and give it to the canary customer."""
    from customers.services import customer_update
    from datamanager.models import AttributeKind
    from datamanager.services import attribute_declare
    from tests import factories
    from tests.conftest import CANARY_EMAIL

    actor = factories.system(world.project)
    attribute_declare(actor=actor, name="crm_id", kind=AttributeKind.ID)
    customer_update(actor=actor, ids={"registered": CANARY_EMAIL, **CRM_ID}, properties={})
    return CRM_ID


@pytest.fixture
def full(world: World) -> ApiClient:
    return ApiClient(str(world.project.token), world.full_key)


@pytest.fixture
def masked(world: World) -> ApiClient:
    return ApiClient(str(world.project.token), world.masked_key)


@pytest.fixture
def api_for(world: World) -> Callable[..., ApiClient]:
    def make(credentials: KeyCredentials | None, token: str | None = None) -> ApiClient:
        return ApiClient(token or str(world.project.token), credentials)

    return make
