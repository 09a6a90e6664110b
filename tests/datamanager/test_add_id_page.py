"""The Customer attributes tab's "Add ID" action, as plain form posts (no JavaScript).

An admin adds a hard or soft ID (PII on by default); a refused name shows the page again
with the reason and the typed values, nothing written; without ``manage_data`` there is no
panel and the post is 403; a new ID is flagged and unflagged like any attribute.
"""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from access.models import AuditEvent
from datamanager.models import AttributeKind, CustomerAttribute
from tests import factories
from tests.conftest import World, assert_no_canary

from .test_page import _form


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(world: World) -> str:
    return f"/projects/{world.project.token}/data-manager/"


def _add(world: World) -> str:
    return f"/projects/{world.project.token}/data-manager/ids/"


def _id(world: World, name: str) -> CustomerAttribute | None:
    return CustomerAttribute.objects.filter(
        project=world.project, name=name, kind=AttributeKind.ID
    ).first()


def test_the_panel_is_there_for_a_data_manager_only(world: World) -> None:
    html = _client(world.admin).get(_page(world)).content.decode()
    assert 'id="dm-add-id-form"' in html and "+ Add ID" in html
    # PII is on by default, hard is the default kind.
    assert re.search(r'<input type="checkbox" name="id-pii" value="1"[^>]* checked>', html)
    assert re.search(r'<input type="radio" name="id-kind" value="hard"[^>]* checked>', html)
    for user in (world.marketer, factories.make_member(world.project, "vic", roles=("Viewer",))):
        other = _client(user).get(_page(world)).content.decode()
        assert "dm-add-id" not in other


def test_adding_a_hard_pii_id_goes_back_to_the_tab_with_a_message(world: World) -> None:
    client = _client(world.admin)
    response = client.post(
        _add(world),
        {
            "id-name": "crm_id",
            "id-kind": "hard",
            "id-pii": "1",
            "id-desc": "CRM  number",
            "tab": "customers",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/data-manager/?tab=customers")
    attr = _id(world, "crm_id")
    assert attr is not None and (attr.hard, attr.pii, attr.description) == (
        True,
        True,
        "CRM number",
    )
    event = AuditEvent.objects.get(action="datamanager.id_create")
    assert event.actor_label == "alice"
    page = client.get(response["Location"]).content.decode()
    assert "Added the hard ID &#x27;crm_id&#x27;, flagged as personal data." in page
    row = page.split('data-name="crm_id"', 1)[1].split("</tr>", 1)[0]
    assert ">hard ID</span>" in row and " checked" in row  # locked: PII


def test_a_soft_id_without_pii_when_the_box_is_unticked(world: World) -> None:
    response = _client(world.admin).post(_add(world), {"id-name": "phone_id", "id-kind": "soft"})
    assert response.status_code == 302
    attr = _id(world, "phone_id")
    assert attr is not None and (attr.hard, attr.pii) == (False, False)


def test_a_taken_name_shows_the_reason_and_keeps_what_was_typed(world: World) -> None:
    response = _client(world.admin).post(
        _add(world), {"id-name": "email", "id-kind": "soft", "id-desc": "typed", "id-pii": "1"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The ID was not added." in html
    assert "A customer property named &#x27;email&#x27; already exists." in html
    assert '<details class="popover dm-add-id" open>' in html
    assert 'name="id-name" form="dm-add-id-form" value="email"' in html
    assert re.search(r'name="id-kind" value="soft"[^>]* checked', html)
    assert 'value="typed"' in html
    assert not AuditEvent.objects.filter(action="datamanager.id_create").exists()


def test_an_invalid_name_is_a_400_and_nothing_is_written(world: World) -> None:
    response = _client(world.admin).post(_add(world), {"id-name": "<b>Bad</b>"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "&lt;b&gt;Bad&lt;/b&gt;" in html and "<b>Bad</b>" not in html
    assert not CustomerAttribute.objects.filter(project=world.project, name__contains="Bad")


def test_without_manage_data_the_post_is_403_and_get_is_405(world: World) -> None:
    response = _client(world.marketer).post(_add(world), {"id-name": "crm_id"})
    assert response.status_code == 403
    assert _id(world, "crm_id") is None
    assert _client(world.admin).get(_add(world)).status_code == 405
    outsider = _client(world.outsider).post(_add(world), {"id-name": "crm_id"})
    assert outsider.status_code == 404


def test_a_new_id_is_flagged_and_unflagged_like_any_attribute(world: World) -> None:
    client = _client(world.admin)
    client.post(_add(world), {"id-name": "crm_id", "id-kind": "hard", "id-pii": "1"})
    attr = _id(world, "crm_id")
    assert attr is not None and attr.pii
    data = _form(client.get(_page(world)).content.decode())
    del data[f"ca-{attr.pk}-pii"]
    data["action"] = "save"
    asked = client.post(_page(world), data)
    assert asked.status_code == 200 and "<code>crm_id</code>" in asked.content.decode()
    data["action"] = "save_confirmed"
    assert client.post(_page(world), data).status_code == 302
    attr.refresh_from_db()
    assert attr.pii is False
    data = _form(client.get(_page(world)).content.decode())
    data[f"ca-{attr.pk}-pii"] = "1"
    data["action"] = "save"
    assert client.post(_page(world), data).status_code == 302
    attr.refresh_from_db()
    assert attr.pii is True
    flags = AuditEvent.objects.filter(action="datamanager.pii_flag", details__attribute="crm_id")
    assert flags.count() == 2


def test_a_refused_add_shows_a_data_manager_without_personal_data_no_value(world: World) -> None:
    """The re-rendered tab samples values as the principal may see them, like the GET."""
    manager = factories.make_member(world.project, "dora", roles=("Data manager",))
    response = _client(manager).post(_add(world), {"id-name": "registered", "id-pii": "1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A customer ID named &#x27;registered&#x27; already exists." in html
    assert_no_canary(html)
    assert "Bratislava" in html  # a non-PII value is sampled: the page did show values
    # The same principal may add an ID (flagging is open to manage_data).
    assert (
        _client(manager).post(_add(world), {"id-name": "crm_id", "id-pii": "1"}).status_code == 302
    )
