"""The Data manager page: who sees it, who changes it, staged changes, no value leaks."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from access.models import AuditEvent
from datamanager.models import CustomerAttribute, EventAttribute, EventType
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, CANARY_NAME, World, assert_no_canary


def _url(world: World, query: str = "") -> str:
    return f"/projects/{world.project.token}/data-manager/{query}"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(html: str) -> dict[str, str]:
    """The POST body a browser would send for the page's form, unchanged."""
    form = html[html.index('id="dm-form"') :]
    data: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="radio"' in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue
        data[name.group(1)] = value.group(1) if value else ""
    for select in re.finditer(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]+)" selected>', select.group(2))
        data[select.group(1)] = chosen.group(1) if chosen else ""
    data.pop("csrfmiddlewaretoken", None)
    return {k: v.replace("&amp;", "&").replace("&#x27;", "'") for k, v in data.items()}


def _ca(world: World, name: str) -> CustomerAttribute:
    return CustomerAttribute.objects.get(project=world.project, name=name)


def _ea(world: World, event_type: str, name: str) -> EventAttribute:
    return EventAttribute.objects.get(
        event_type__project=world.project, event_type__name=event_type, name=name
    )


def test_viewer_sees_the_catalog_without_controls_or_values(world: World) -> None:
    viewer = factories.make_member(world.project, "vera", roles=("Viewer",))
    response = _client(viewer).get(_url(world))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Customer attributes" in html and "Events" in html
    for name in ("email", "city", "registered", "shipping_address"):
        assert f"<code>{name}</code>" in html
    assert 'id="dm-form"' in html and "Save changes" not in html
    assert 'type="checkbox"' not in html
    assert "needs the <strong>Data manager</strong> permission" in html
    # A PII attribute's values are not shown; a non-PII one's are.
    assert_no_canary(html)
    assert "personal data" in html
    assert "Bratislava" in html
    assert response["Cache-Control"] == "private, no-store"


def test_admin_sees_values_of_pii_attributes(world: World) -> None:
    html = _client(world.admin).get(_url(world)).content.decode()
    assert CANARY_EMAIL in html and CANARY_NAME in html
    assert "Save changes" in html


def test_outsider_gets_404_and_anonymous_is_sent_to_login(world: World) -> None:
    assert _client(world.outsider).get(_url(world)).status_code == 404
    response = Client().get(_url(world))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_plain_form_post_flags_event_and_customer_attributes(world: World) -> None:
    client = _client(world.admin)
    data = _form(client.get(_url(world)).content.decode())
    city, items = _ca(world, "city"), _ea(world, "purchase", "items")
    data[f"ca-{city.pk}-pii"] = "1"
    data[f"ca-{city.pk}-desc"] = "Town of the shipping address"
    data[f"ea-{items.pk}-pii"] = "1"
    data["action"] = "save"
    data["tab"] = "events"
    response = client.post(_url(world), data)
    assert response.status_code == 302
    assert response["Location"].endswith("?tab=events")
    city.refresh_from_db()
    items.refresh_from_db()
    assert city.pii and city.description == "Town of the shipping address"
    assert items.pii
    # Only the touched fields changed; every other row was posted unchanged.
    assert _ca(world, "plan").pii is False and _ca(world, "email").pii is True
    assert (
        AuditEvent.objects.filter(action="datamanager.pii_flag", actor_label="alice").count() == 2
    )
    page = client.get(response["Location"]).content.decode()
    assert "Saved 3 changes." in page


def test_staged_toggles_change_nothing_until_saved(world: World) -> None:
    client = _client(world.admin)
    data = _form(client.get(_url(world)).content.decode())
    plan = _ca(world, "plan")
    data[f"ca-{plan.pk}-pii"] = "1"
    # "Flag all suggested" without JavaScript re-renders the page with the flags staged.
    data["action"] = "flag_suggested"
    response = client.post(_url(world), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "unsaved change" in html and "nothing changes until you save" in html
    assert _ca(world, "plan").pii is False
    # Discard drops the staged work.
    data["action"] = "discard"
    assert client.post(_url(world), data).status_code == 302
    assert _ca(world, "plan").pii is False


def test_flag_all_suggested_then_save(world: World) -> None:
    client = _client(world.admin)
    data = _form(client.get(_url(world)).content.decode())
    data["action"] = "flag_suggested"
    staged = _form(client.post(_url(world), data).content.decode())
    staged["action"] = "save"
    assert client.post(_url(world), staged).status_code == 302
    # The world's customer has "purchase.total", "items", "url", "city", "plan": none suggested.
    assert _ca(world, "city").pii is False and _ca(world, "plan").pii is False
    assert _ea(world, "purchase", "total").pii is False


def test_unflag_asks_for_confirmation(world: World) -> None:
    client = _client(world.admin)
    data = _form(client.get(_url(world)).content.decode())
    phone = _ca(world, "phone")
    del data[f"ca-{phone.pk}-pii"]
    data["action"] = "save"
    response = client.post(_url(world), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unflag 1 attribute?" in html and "<code>phone</code>" in html
    assert _ca(world, "phone").pii is True
    again = _form(html)
    assert f"ca-{phone.pk}-pii" not in again  # the staged unflag survives the re-render
    again["action"] = "save_confirmed"
    assert client.post(_url(world), again).status_code == 302
    assert _ca(world, "phone").pii is False


def test_bad_type_is_shown_and_nothing_is_saved(world: World) -> None:
    client = _client(world.admin)
    data = _form(client.get(_url(world)).content.decode())
    city, plan = _ca(world, "city"), _ca(world, "plan")
    data[f"ca-{city.pk}-pii"] = "1"
    data[f"ca-{plan.pk}-type"] = "varchar"
    data["action"] = "save"
    response = client.post(_url(world), data)
    assert response.status_code == 400
    assert "Unknown type" in response.content.decode()
    assert _ca(world, "city").pii is False


def test_another_projects_attribute_in_the_post_is_404(world: World) -> None:
    factories.track_customer(world.other_project, {"registered": "o@other.test"}, {"x": 1})
    foreign = CustomerAttribute.objects.get(project=world.other_project, name="x")
    client = _client(world.admin)
    data = {f"ca-{foreign.pk}-orig": "0|number|", f"ca-{foreign.pk}-pii": "1", "action": "save"}
    assert client.post(_url(world), data).status_code == 404
    foreign.refresh_from_db()
    assert foreign.pii is False


@pytest.mark.parametrize("roles", [("Viewer",), ("Marketer",)])
def test_without_manage_data_the_post_is_refused(world: World, roles: tuple[str, ...]) -> None:
    user = factories.make_member(world.project, "nick", roles=roles, personal_data=True)
    city = _ca(world, "city")
    data = {f"ca-{city.pk}-orig": "0|string|", f"ca-{city.pk}-pii": "1", "action": "save"}
    assert _client(user).post(_url(world), data).status_code == 403
    assert _ca(world, "city").pii is False


def test_event_type_description_and_search(world: World) -> None:
    client = _client(world.admin)
    data = _form(client.get(_url(world)).content.decode())
    purchase = EventType.objects.get(project=world.project, name="purchase")
    data[f"et-{purchase.pk}-desc"] = "Paid order"
    data["action"] = "save"
    assert client.post(_url(world), data).status_code == 302
    purchase.refresh_from_db()
    assert purchase.description == "Paid order"
    html = client.get(_url(world, "?tab=events&q=ship&pii=only")).content.decode()
    # The search opens the event that holds a match and hides the rest.
    assert re.search(r'<details class="dm-event" data-name="purchase" open>', html)
    assert re.search(r'<details class="dm-event hidden" data-name="page_visit"', html)


def test_no_inline_scripts_or_styles(world: World) -> None:
    html = _client(world.admin).get(_url(world)).content.decode()
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert all(c not in html for c in ["cdn.", "googleapis"])


def test_restricted_user_never_receives_a_canary(world: World) -> None:
    """Every tab, filter and staged re-render for a user without Personal data."""
    data_manager = factories.make_member(world.project, "dora", roles=("Data manager",))
    client = _client(data_manager)
    pages = [
        client.get(_url(world, q)).content.decode()
        for q in ("", "?tab=events", "?pii=only", "?q=email", "?q=ip&tab=events")
    ]
    data = _form(pages[0])
    data["action"] = "flag_suggested"
    pages.append(client.post(_url(world), data).content.decode())
    for html in pages:
        assert_no_canary(html)
    assert "personal data" in pages[0]
    assert all(c in _client(world.admin).get(_url(world)).content.decode() for c in CANARIES)


def test_page_queries_do_not_grow_with_customers_or_attributes(world: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client(world.admin)
    client.get(_url(world))  # warm the session and the catalog
    with CaptureQueriesContext(connection) as before:
        client.get(_url(world))
    for i in range(15):
        factories.track_customer(
            world.project,
            {"registered": f"n{i}@example.test"},
            {f"extra_{i}": i, "city": "Brno"},
            [("purchase", {f"note_{i}": "x", "total": i})],
        )
    with CaptureQueriesContext(connection) as after:
        html = client.get(_url(world)).content.decode()
    assert "<code>extra_14</code>" in html and "<code>note_14</code>" in html
    assert len(after.captured_queries) == len(before.captured_queries)
