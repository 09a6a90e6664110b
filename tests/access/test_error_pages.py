"""One way a project page answers a domain error (access.views_base.ProjectViewMixin).

NotFound is the site's 404 page, the same as a URL that does not exist; Forbidden and
PiiFieldRefused are 403, InvalidInput 400, all on the one error template, never cached.
Views raise; none translates by hand, so one that would say 404 for a refusal cannot drift.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.errors import Forbidden
from access.permissions import Perm
from access.services import member_set_direct_grant
from customers import anonymization_views
from customers.models import Customer
from tests import factories
from tests.conftest import World

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"token": world.project.token, **kwargs})


def assert_error_page(response: Any, status: int, *texts: str) -> str:
    assert response.status_code == status
    assert [t.name for t in response.templates][:1] == ["error.html"]
    assert response["Cache-Control"] == "private, no-store"
    page: str = response.content.decode()
    for text in texts:
        assert text in page, text
    return page


def test_a_pii_filter_on_the_list_is_403_naming_the_attribute(world: World) -> None:
    response = signed_in(world.marketer).get(url(world, "customers:list") + "?sort=email")
    page = assert_error_page(response, 403, "'email' is personal data", "Nothing was searched.")
    assert url(world, "customers:list") in page  # the way back


def test_a_bad_page_link_on_the_profile_is_400(world: World) -> None:
    detail = url(world, "customers:detail", pk=world.customer.pk)
    response = signed_in(world.admin).get(detail + "?before=not-a-cursor")
    assert_error_page(response, 400, "The page link is not valid")


def test_columns_outside_the_list_are_400(world: World) -> None:
    response = signed_in(world.admin).post(url(world, "customers:columns"), {"column": ["nope"]})
    assert_error_page(response, 400, "Choose columns from the list.")


def test_a_pii_filter_in_bulk_anonymization_is_403_and_anonymizes_nothing(world: World) -> None:
    member_set_direct_grant(
        actor=factories.system(world.project),
        user=world.marketer,
        perm=Perm.ANONYMIZE_CUSTOMERS,
        granted=True,
    )
    response = signed_in(world.marketer).post(
        url(world, "customers:anonymize_bulk"),
        {"all_matching": "1", "filter": "c=email:exists", "confirm": "1"},
    )
    assert_error_page(response, 403, "Nothing was anonymized.", "email")
    assert not Customer.objects.filter(anonymized_at__isnull=False).exists()


def test_a_refusal_on_the_profiles_anonymize_page_is_403_not_404(
    world: World, monkeypatch: Any
) -> None:
    """The page used to turn any domain error of its customer lookup into 404."""

    def refuse(*args: Any, **kwargs: Any) -> Customer:
        raise Forbidden("This customer may not be anonymized by you.")

    monkeypatch.setattr(anonymization_views, "customer_get", refuse)
    anonymize = url(world, "customers:anonymize", pk=world.customer.pk)
    client = signed_in(world.admin)
    assert_error_page(client.get(anonymize), 403, "may not be anonymized by you")
    assert_error_page(client.post(anonymize), 403, "Nothing was anonymized.")
    assert Customer.objects.get(pk=world.customer.pk).anonymized_at is None


@pytest.mark.parametrize(
    ("name", "kwargs", "method"),
    [
        ("customers:detail", {"pk": 0}, "get"),
        ("customers:anonymize", {"pk": 0}, "get"),
        ("customers:anonymize", {"pk": 0}, "post"),
        ("access:member_roles", {"user_id": 0}, "post"),
        ("access:member_remove", {"user_id": 0}, "post"),
        ("access:role_edit", {"role_id": 0}, "get"),
        ("access:api_key_revoke", {"api_key_id": 0}, "post"),
    ],
)
def test_a_missing_object_is_the_sites_404_page(
    world: World, name: str, kwargs: dict[str, Any], method: str
) -> None:
    """Missing, or another project's: the same body as a URL that does not exist."""
    client = signed_in(world.admin)
    missing_url = client.get(f"/projects/{world.project.token}/no-such-page/")
    response = getattr(client, method)(url(world, name, **kwargs))
    assert response.status_code == 404
    assert response.content == missing_url.content
    assert "error.html" not in [t.name for t in response.templates]


def test_another_projects_member_is_404_like_a_missing_one(world: World) -> None:
    client = signed_in(world.admin)
    response = client.post(url(world, "access:member_remove", user_id=world.outsider.pk))
    assert response.status_code == 404
    missing = client.post(url(world, "access:member_remove", user_id=0))
    assert response.content == missing.content
