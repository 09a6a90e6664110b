"""Proxy trust (TRUSTED_PROXY) and the username-in-password validator.

Without a configured proxy, ``X-Forwarded-Proto`` and ``X-Forwarded-For`` are the client's own
words: they must neither make a request count as HTTPS nor change the address the audit log,
axes and the address limit use.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory, override_settings

from access.client_ip import client_ip
from access.models import AuditEvent
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


def _production_setting(name: str, **env: str) -> Any:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TRUSTED_PROXY"}
    }
    base.update(
        DJANGO_SETTINGS_MODULE="exponea_pii.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="shop.example.com",
        EXPONEA_PII_ENV_FILE="",
        **env,
    )
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps(getattr(s, {name!r}, None)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_forwarded_proto_is_trusted_only_behind_a_configured_proxy() -> None:
    assert _production_setting("SECURE_PROXY_SSL_HEADER") is None
    assert _production_setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY="1") == [
        "HTTP_X_FORWARDED_PROTO",
        "https",
    ]
    assert _production_setting("TRUSTED_PROXY", TRUSTED_PROXY="true") == 1


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "192.0.2.1"),  # no proxy configured: the header is ignored
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "10.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own entry is skipped
        (2, "10.6.6.6, 203.0.113.9, 198.51.100.8", "203.0.113.9"),
        (2, "203.0.113.9", "192.0.2.1"),  # fewer entries than proxies: not believed
        (1, "not-an-ip", "192.0.2.1"),
        (1, "", "192.0.2.1"),
    ],
)
def test_client_address_reads_forwarded_for_only_from_trusted_hops(
    hops: int, forwarded: str, expected: str
) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(TRUSTED_PROXY=hops):
        assert client_ip(request) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("hops", "recorded"), [(0, "192.0.2.1"), (1, "203.0.113.9")])
def test_audit_log_records_the_address_the_proxy_setting_allows(hops: int, recorded: str) -> None:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    client = Client(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    client.force_login(alice)
    with override_settings(TRUSTED_PROXY=hops):
        response = client.post(
            f"/projects/{project.token}/settings/roles/create/", {"name": "Readers"}
        )
    assert response.status_code == 302
    assert AuditEvent.objects.get(
        project=project, action="role.create", actor_label="alice"
    ).ip == (recorded)


@pytest.mark.parametrize(
    "password", ["victimvictim", "Victim-2026-secure!", "my.victim.password", "xx-VICTIM-xx"]
)
def test_a_password_built_from_the_username_is_refused(password: str) -> None:
    user = get_user_model()(username="victim", email="v.person@example.com")
    with pytest.raises(ValidationError) as info:
        password_validation.validate_password(password, user=user)
    assert "username" in " ".join(info.value.messages)


def test_a_password_built_from_the_email_name_is_refused_and_others_pass() -> None:
    user = get_user_model()(username="vp", email="vperson@example.com")
    with pytest.raises(ValidationError):
        password_validation.validate_password("vperson-hunter-42", user=user)
    password_validation.validate_password("correct-horse-battery-staple", user=user)
