"""The Swagger page is usable: it explains HTTP Basic ``key_id:secret`` and the project token,
declares the Basic scheme, and runs under the Content-Security-Policy (no inline script; the
one inline style is allowed by its hash on this page only). "Try it out" against a live
server is in tests/browser/test_tour.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_explains_basic_auth_and_the_project_token() -> None:
    doc = json.loads(Client().get("/api/schema/?format=json").content)
    assert doc["components"]["securitySchemes"]["apiKey"]["type"] == "http"
    assert doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "basic"
    description = doc["info"]["description"]
    for phrase in (
        "HTTP Basic `key_id:secret`",
        "the user name is the\nkey's **key id**, the password is its **secret**",
        "`{token}`, the **project token**",
        "Click **Authorize**",
        "Demo full access",
    ):
        assert phrase in description, phrase


def test_swagger_page_runs_under_the_csp() -> None:
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    # No inline script: the start-up script is served by the same view.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert '<script src="/api/docs/?script=">' in html
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy + ";"
    # The inline <style>'s hash is the one the policy allows.
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"style-src 'self' 'sha256-{digest}'" in policy

    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert '"tryItOutEnabled": true' in script.content.decode()
    # Credentials are not persisted in the browser's storage.
    assert "persistAuthorization" not in script.content.decode()


def test_other_pages_keep_the_strict_style_policy() -> None:
    policy = Client().get("/accounts/login/")["Content-Security-Policy"]
    assert "style-src 'self';" in policy + ";" and "sha256" not in policy
