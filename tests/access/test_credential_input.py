"""Pre-authentication input: every malformed or unknown credential answers 401, alike.

A NUL byte in the key id used to reach PostgreSQL and answer 500 (``psycopg.DataError``);
run on both databases. Unknown and malformed key ids do the same hashing and constant-time
comparison as a wrong secret.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.test import Client

from access import selectors
from tests.conftest import CANARY_EMAIL, World

pytestmark = pytest.mark.django_db


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def _export_one(world: World, authorization: str) -> Any:
    return Client().post(
        f"/data/v2/projects/{world.project.token}/customers/export-one",
        {"customer_ids": {"registered": CANARY_EMAIL}},
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization,
    )


BAD_KEY_IDS = [
    b"\x00",
    b"abc\x00def",
    b"k" * 65,
    b"k" * 5000,
    "kľúč".encode(),
    b"key id",
    b"key%27--",
    b"",
]


@pytest.mark.parametrize("key_id", BAD_KEY_IDS, ids=repr)
def test_malformed_key_ids_answer_401(world: World, key_id: bytes) -> None:
    response = _export_one(world, _basic(key_id + b":" + world.full_key.secret.encode()))
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert CANARY_EMAIL not in response.content.decode()


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic \x00",
        "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
        "Basic kľúč",
        "Basic " + "A" * 10,
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ],
    ids=repr,
)
def test_malformed_basic_headers_answer_401(world: World, authorization: str) -> None:
    response = _export_one(world, authorization)
    assert response.status_code == 401
    assert response.json()["success"] is False


def test_a_nul_byte_in_the_secret_answers_401(world: World) -> None:
    raw = world.full_key.key.key_id.encode() + b":" + b"\x00" + world.full_key.secret.encode()
    assert _export_one(world, _basic(raw)).status_code == 401


def test_unknown_and_malformed_key_ids_do_the_work_of_a_wrong_secret(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_hash, real_compare = selectors.hash_secret, selectors.hmac.compare_digest

    def counting_hash(secret: str) -> str:
        calls.append("hash")
        return real_hash(secret)

    def counting_compare(a: Any, b: Any) -> bool:
        calls.append("compare")
        return real_compare(a, b)

    monkeypatch.setattr(selectors, "hash_secret", counting_hash)
    monkeypatch.setattr(selectors.hmac, "compare_digest", counting_compare)
    key_id = world.full_key.key.key_id
    cases = {
        "wrong secret": (key_id, "wrong"),
        "unknown id": ("0" * len(key_id), "wrong"),
        "malformed id": ("\x00" + key_id, "wrong"),
    }
    work = {}
    for name, (kid, secret) in cases.items():
        calls.clear()
        assert selectors.api_key_authenticate(kid, secret) is None
        work[name] = list(calls)
    assert work["unknown id"] == work["wrong secret"] == ["hash", "compare"]
    assert work["malformed id"] == work["wrong secret"]
    assert selectors.api_key_authenticate(key_id, world.full_key.secret) is not None
