"""Sign-in, sign-out, password change, and throttling of failed logins (django-axes)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT


def login(client: Client, username: str, password: str) -> int:
    response = client.post(reverse("login"), {"username": username, "password": password})
    return response.status_code


@pytest.fixture
def member() -> object:
    project = factories.make_project()
    return factories.make_member(project, "alice", roles=("Viewer",))


def test_sign_in_and_out(member: object) -> None:
    client = Client()
    assert login(client, "alice", factories.PASSWORD) == 302
    assert client.get(reverse("home")).status_code in (200, 302)
    assert client.post(reverse("logout")).status_code == 302
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_wrong_password_shows_the_form_again(member: object) -> None:
    client = Client()
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_failed_logins_lock_the_username_from_that_address_only(member: object) -> None:
    for _ in range(LIMIT - 1):
        assert login(Client(REMOTE_ADDR="198.51.100.1"), "alice", "wrong") == 200
    # The failure that reaches the limit is already answered with the lockout.
    assert login(Client(REMOTE_ADDR="198.51.100.1"), "alice", "wrong") == 429
    # Even the right password is refused from that address while locked ...
    response = Client(REMOTE_ADDR="198.51.100.1").post(
        reverse("login"), {"username": "alice", "password": factories.PASSWORD}
    )
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    assert f"Try again in {minutes} minutes" in response.content.decode()
    # ... but an attacker elsewhere cannot lock alice out: from her address she signs in.
    assert login(Client(REMOTE_ADDR="198.51.100.2"), "alice", factories.PASSWORD) == 302


def test_failed_logins_lock_the_address_for_every_account(member: object) -> None:
    address_limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    assert address_limit > LIMIT
    for n in range(address_limit):
        assert login(Client(REMOTE_ADDR="198.51.100.3"), f"guess{n}", "wrong") == 200
    assert login(Client(REMOTE_ADDR="198.51.100.3"), "guess-last", "wrong") == 429
    response = Client(REMOTE_ADDR="198.51.100.3").post(
        reverse("login"), {"username": "alice", "password": factories.PASSWORD}
    )
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    # The account itself is not locked: from another address it signs in.
    assert login(Client(REMOTE_ADDR="198.51.100.4"), "alice", factories.PASSWORD) == 302


def test_a_forwarded_for_header_does_not_escape_the_address_limit_without_a_proxy(
    member: object,
) -> None:
    for n in range(LIMIT):
        client = Client(REMOTE_ADDR="198.51.100.5", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
        login(client, "alice", "wrong")
    spoofed = Client(REMOTE_ADDR="198.51.100.5", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert login(spoofed, "alice", factories.PASSWORD) == 429


def test_wrong_old_passwords_lock_the_password_change_like_sign_in(member: object) -> None:
    client = Client(REMOTE_ADDR="198.51.100.6")
    client.force_login(member)  # type: ignore[arg-type]
    new = "another-long-passphrase-42"
    for _ in range(LIMIT - 1):
        response = client.post(
            reverse("password_change"),
            {"old_password": "guess", "new_password1": new, "new_password2": new},
        )
        assert response.status_code == 200
    response = client.post(
        reverse("password_change"),
        {"old_password": "guess", "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 429
    # Locked: even the right old password changes nothing now.
    response = client.post(
        reverse("password_change"),
        {"old_password": factories.PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 429
    member.refresh_from_db()  # type: ignore[attr-defined]
    assert member.check_password(factories.PASSWORD)  # type: ignore[attr-defined]


def test_password_change(member: object) -> None:
    client = Client()
    client.force_login(member)  # type: ignore[arg-type]
    response = client.post(
        reverse("password_change"),
        {
            "old_password": factories.PASSWORD,
            "new_password1": "another-long-passphrase-42",
            "new_password2": "another-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert login(Client(), "alice", "another-long-passphrase-42") == 302
