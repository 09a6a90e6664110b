"""Security settings, checked the way an auditor would: production settings in a subprocess,
headers on real responses, every template, every form, every mutating URL."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client, override_settings

from access.models import ApiKey
from tests import factories
from tests.conftest import World

from .conftest import LeakWorld, canaries_in, signed_in, start_urls
from .crawler import Crawler, iter_routes

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests' session, never in production.
        if k
        not in {
            "DEBUG",
            "SECRET_KEY",
            "DATABASE_URL",
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        DJANGO_SETTINGS_MODULE="exponea_pii.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="shop.example.com",
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


# Production settings ------------------------------------------------------------------------


def test_production_settings_pass_check_deploy_without_warnings() -> None:
    result = _run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key() -> None:
    env = _production_env()
    del env["SECRET_KEY"]
    result = _run([PYTHON, "manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def _production_settings(*names: str) -> dict[str, Any]:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}, default=str))"
    )
    result = _run([PYTHON, "-c", code], _production_env())
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


def test_production_cookies_are_secure_httponly_samesite() -> None:
    s = _production_settings(
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE",
        "CSRF_COOKIE_SECURE",
        "CSRF_COOKIE_SAMESITE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "DEBUG",
    )
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["SESSION_COOKIE_HTTPONLY"] is True
    assert s["SESSION_COOKIE_SAMESITE"] in {"Lax", "Strict"}
    assert s["CSRF_COOKIE_SECURE"] is True
    assert s["CSRF_COOKIE_SAMESITE"] in {"Lax", "Strict"}
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 60 * 60 * 24 * 180
    assert s["DEBUG"] is False


@pytest.mark.django_db
def test_session_cookie_on_sign_in_is_httponly_and_samesite(world: World) -> None:
    client = Client()
    response = client.post("/accounts/login/", {"username": "mark", "password": factories.PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


# Headers ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_send_csp_without_inline_and_frame_and_referrer_headers(world: World) -> None:
    client = signed_in(world.admin)
    for url in ["/accounts/login/", f"/projects/{world.project.token}/", "/no-such-page/"]:
        response = client.get(url, follow=True)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp, url
        assert "style-src 'self'" in csp, url
        assert "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
        assert response.headers.get("X-Frame-Options") == "DENY", url
        assert response.headers.get("Referrer-Policy") in {"same-origin", "no-referrer"}, url
        assert response.headers.get("X-Content-Type-Options") == "nosniff", url


# Templates ----------------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
SCRIPT_WITH_BODY = re.compile(r"<script\b[^>]*\bsrc=[^>]*>\s*\S+?\s*</script>", re.I | re.S)
STYLE_ATTR = re.compile(r"<[^>]*\sstyle\s*=", re.I | re.S)
STYLE_BLOCK = re.compile(r"<style\b", re.I)
HANDLER_ATTR = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.I)


def _template_files() -> list[Path]:
    roots = [ROOT / "templates", *ROOT.glob("*/templates")]
    return sorted(p for r in roots if r.is_dir() for p in r.rglob("*.html"))


def test_no_template_has_inline_scripts_styles_or_handlers() -> None:
    files = _template_files()
    assert files
    offences = []
    for path in files:
        text = path.read_text()
        for name, rx in [
            ("inline <script>", INLINE_SCRIPT),
            ("<script src> with a body", SCRIPT_WITH_BODY),
            ("style= attribute", STYLE_ATTR),
            ("<style> block", STYLE_BLOCK),
            ("on*= handler", HANDLER_ATTR),
            ("javascript: URL", JS_URL),
        ]:
            for match in rx.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offences.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert offences == []


def test_template_scan_catches_what_it_should() -> None:
    """The scan above is only worth something if it fails on the things it forbids."""
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not INLINE_SCRIPT.search('<script src="/static/js/x.js"></script>')
    assert not INLINE_SCRIPT.search('<script id="d" type="application/json">{}</script>')
    assert SCRIPT_WITH_BODY.search('<script src="/a.js">alert(1)</script>')
    assert STYLE_ATTR.search('<div class="x" style="color:red">')
    assert HANDLER_ATTR.search('<button type="button"\n onclick="go()">')
    assert not HANDLER_ATTR.search("<p>Click one=two</p>")
    assert JS_URL.search('<a href="javascript:void(0)">')


# Forms and mutating URLs -----------------------------------------------------------------------

SECRETISH_PARAMS = re.compile(r"secret|password|passwd|email|registered|cookie|phone|value", re.I)


def test_no_mutating_route_carries_a_secret_or_customer_id_in_its_path() -> None:
    offences = []
    for route in iter_routes():
        if route.allowed_methods() & {"post", "put", "patch", "delete"}:
            for _, name in route.params:
                if SECRETISH_PARAMS.search(name):
                    offences.append(f"{route.route} <{name}>")
    assert offences == []


@pytest.mark.django_db
def test_every_post_form_has_a_csrf_token_and_no_secret_in_its_action(
    leak_world: LeakWorld,
) -> None:
    crawler = Crawler(signed_in(leak_world.world.admin))
    crawler.crawl(start_urls(leak_world.token))
    anonymous = Crawler(Client())
    anonymous.crawl(["/accounts/login/", "/accounts/password_reset/"])
    forms = crawler.forms + anonymous.forms
    post_forms = [f for f in forms if f.method == "post"]
    assert post_forms, "no POST form found: the crawl did not reach any page"
    assert [f"{f.page_url} -> {f.action}" for f in post_forms if not f.has_csrf_token] == []
    secrets_in_actions = [
        f.action
        for f in forms
        if canaries_in(f.action)
        or ("?" in f.action and SECRETISH_PARAMS.search(f.action.split("?", 1)[-1]))
    ]
    assert secrets_in_actions == []
    # A password never travels in a GET form (it would land in URLs and proxy logs).
    assert [
        f.page_url for f in forms if f.method == "get" and any("password" in n for n, _ in f.fields)
    ] == []


@pytest.mark.django_db
def test_every_post_route_refuses_a_request_without_csrf_token(world: World) -> None:
    """Generic over the resolver: any page accepting POST must demand the CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin, backend="django.contrib.auth.backends.ModelBackend")
    checked = []
    for route in iter_routes():
        if route.route.startswith(("track/", "data/", "api/")):
            continue  # the API authenticates by key, never by session cookie (tested below)
        if "post" not in route.allowed_methods():
            continue
        # Any value of the right shape: CSRF is refused before the view looks anything up.
        values = {
            n: world.project.token if n == "token" else uuid.uuid4() if conv == "uuid" else 1
            for conv, n in route.params
        }
        url = route.build(values)
        response = client.post(url, {})
        checked.append(url)
        assert response.status_code == 403, f"{url} accepted a POST without CSRF token"
    assert checked


@pytest.mark.django_db
def test_api_ignores_session_cookies(world: World) -> None:
    """A signed-in browser cannot be made to call the API (no CSRF exposure there)."""
    assert "SessionAuthentication" not in json.dumps(settings.REST_FRAMEWORK)
    client = signed_in(world.admin)
    api_routes = [r for r in iter_routes() if r.route.startswith(("track/", "data/"))]
    if not api_routes:
        pytest.skip("the API has not landed yet")
    for route in api_routes:
        values = {n: world.project.token for _, n in route.params if n == "token"}
        if len(values) != len(route.params):
            continue
        url = route.build(values)
        method = "get" if "get" in route.allowed_methods() else "post"
        response = getattr(client, method)(url, data={}, content_type="application/json")
        assert response.status_code == 401, url


# Passwords, logins, API ---------------------------------------------------------------------


def test_password_validators_refuse_weak_passwords() -> None:
    names = {v["NAME"].rsplit(".", 1)[-1] for v in settings.AUTH_PASSWORD_VALIDATORS}
    assert {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    } <= names
    for weak in ["password", "12345678", "short"]:
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("correct-horse-battery-staple-42")


@pytest.mark.django_db
def test_repeated_failed_logins_are_throttled_even_for_the_right_password(world: World) -> None:
    assert settings.AXES_ENABLED
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "mark", "password": "wrong-guess"})
    response = client.post("/accounts/login/", {"username": "mark", "password": factories.PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_api_is_throttled_per_key_with_retry_after(world: World) -> None:
    time_routes = [r for r in iter_routes() if r.route.endswith("system/time")]
    if not time_routes:
        pytest.skip("the tracking API has not landed yet")
    url = time_routes[0].build({"token": world.project.token})
    client = Client()
    with override_settings(EXPONEA_API_THROTTLE_RATES={"track": "2/min", "data": "2/min"}):
        statuses = [
            client.get(url, HTTP_AUTHORIZATION=world.full_key.basic).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        response = client.get(url, HTTP_AUTHORIZATION=world.full_key.basic)
        assert int(response["Retry-After"]) > 0
        assert response.json()["success"] is False
        # Another key has its own budget.
        other = client.get(url, HTTP_AUTHORIZATION=world.masked_key.basic)
        assert other.status_code == 200


@pytest.mark.django_db
def test_api_secrets_are_stored_only_as_hashes(world: World) -> None:
    """No table, audit detail or page holds a key's secret after it was shown once."""
    from django.apps import apps

    secret = world.full_key.secret
    holders = []
    for model in apps.get_models():
        if model._meta.app_label not in {"access", "datamanager", "customers", "axes"}:
            continue
        for row in model._default_manager.all().values():
            if secret in json.dumps(row, default=str):
                holders.append(model.__name__)
    assert holders == []
    assert ApiKey.objects.get(pk=world.full_key.key.pk).secret_hash != secret
    crawler = Crawler(signed_in(world.admin))
    crawler.crawl(start_urls(str(world.project.token)))
    assert [f.url for f in crawler.fetched if secret in f.everything()] == []
