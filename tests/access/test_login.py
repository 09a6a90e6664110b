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


def test_failed_logins_lock_the_account_from_any_address(member: object) -> None:
    for _ in range(LIMIT - 1):
        assert login(Client(REMOTE_ADDR="198.51.100.1"), "alice", "wrong") == 200
    # The failure that reaches the limit is already answered with the lockout.
    assert login(Client(REMOTE_ADDR="198.51.100.1"), "alice", "wrong") == 429
    # Even the right password, from another address, is refused while locked.
    response = Client(REMOTE_ADDR="198.51.100.2").post(
        reverse("login"), {"username": "alice", "password": factories.PASSWORD}
    )
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    assert f"Try again in {minutes} minutes" in response.content.decode()


def test_failed_logins_lock_the_address_for_every_account(member: object) -> None:
    for n in range(LIMIT - 1):
        assert login(Client(REMOTE_ADDR="198.51.100.3"), f"guess{n}", "wrong") == 200
    assert login(Client(REMOTE_ADDR="198.51.100.3"), "guess-last", "wrong") == 429
    assert login(Client(REMOTE_ADDR="198.51.100.3"), "alice", factories.PASSWORD) == 429
    # The account itself is not locked: from another address it signs in.
    assert login(Client(REMOTE_ADDR="198.51.100.4"), "alice", factories.PASSWORD) == 302


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
