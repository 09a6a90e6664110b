"""The Masker's ID rule and its typed marker, as every path shows them.

A hidden ID name shows one ``******`` whatever the number of values (list page, profile,
page CSV, the API), so the count of a customer's cookies never shows; and a stored
literal ``"******"`` is a value like any other: an admin sees it as a value, not masked.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from django.test import Client
from django.urls import reverse

from customers.services import customer_update
from datamanager.masking import MASK
from datamanager.models import AttributeKind
from datamanager.services import attribute_declare

from .. import factories
from ..api.conftest import ApiClient
from ..conftest import CANARY_EMAIL, World

COOKIES = ["ck-canary-1", "ck-canary-2", "ck-canary-3"]
CRM = {"crm_id": "crm-ids-1"}


def with_three_cookies(world: World) -> None:
    """The canary customer gets two more cookies and a non-PII ID to be looked up by."""
    actor = factories.system(world.project)
    attribute_declare(actor=actor, name="crm_id", kind=AttributeKind.ID)
    for ids in ({"cookie": COOKIES[1]}, {"cookie": COOKIES[2]}, CRM):
        customer_update(actor=actor, ids={"registered": CANARY_EMAIL, **ids}, properties={})


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def list_row(world: World, user: Any) -> dict[str, tuple[str, str]]:
    """The canary customer's list row: column name -> (cell class, cell text)."""
    url = reverse("customers:list", kwargs={"token": world.project.token})
    page = client_for(user).get(url).content.decode()
    head = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    names = [
        next((w for w in _text(th).split() if w not in {"ID", "PII", "↑", "↓"}), "")
        for th in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    ]
    tbody = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    row = next(
        r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", tbody, re.S) if f">#{world.customer.pk}<" in r
    )
    cells = [
        (cls.strip(), _text(body))
        for cls, body in re.findall(r'<td class="([^"]*)">(.*?)</td>', row, re.S)
    ]
    return dict(zip(names, cells, strict=True))


def profile_entries(world: World, user: Any) -> list[tuple[str, bool, str]]:
    """(name, shown as masked, text) of each ID and attribute on the canary's profile."""
    url = reverse(
        "customers:detail", kwargs={"token": world.project.token, "pk": world.customer.pk}
    )
    html = client_for(user).get(url).content.decode()
    entries = [
        (_text(name), "masked" in cls.split(), _text(text))
        for name, cls, text in re.findall(
            r'<dt>(.*?)</dt>\s*<dd class="([^"]*)">(.*?)</dd>', html, re.S
        )
    ]
    table = html.split('class="card cu-attributes"', 1)[1].split("</table>", 1)[0]
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S):
        (_, name), (cls, value), _type = re.findall(
            r'<td(?: class="([^"]*)")?>(.*?)</td>', row, re.S
        )
        entries.append(
            (_text(name).replace("PII", "").strip(), "masked" in cls.split(), _text(value))
        )
    return entries


def page_csv(world: World, user: Any) -> dict[str, str]:
    client = client_for(user)
    url = reverse("customers:export_csv", kwargs={"token": world.project.token})
    response: Any = client.get(url)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = [
        r for r in csv.DictReader(io.StringIO(text)) if r["internal_id"] == str(world.customer.pk)
    ]
    assert len(rows) == 1
    return rows[0]


def test_a_hidden_id_shows_one_mask_whatever_its_count_on_every_path(world: World) -> None:
    with_three_cookies(world)
    # The list: one masked cell, no "+2 more" badge.
    cell_class, cell_text = list_row(world, world.marketer)["cookie"]
    assert "masked" in cell_class and cell_text == MASK
    admin_class, admin_text = list_row(world, world.admin)["cookie"]
    assert "masked" not in admin_class and admin_text == f"{COOKIES[0]} +2"
    # The profile: one masked entry for the name, where the admin sees three values.
    marketer_cookies = [e for e in profile_entries(world, world.marketer) if e[0] == "cookie"]
    assert [(masked, text) for _, masked, text in marketer_cookies] == [(True, MASK)]
    admin_cookies = [
        text for name, _, text in profile_entries(world, world.admin) if name == "cookie"
    ]
    assert admin_cookies == COOKIES
    # The page CSV: one mask in the cell, where the admin gets the three values.
    marketer_cell = page_csv(world, world.marketer)["cookie"]
    assert marketer_cell in (MASK, json.dumps([MASK])), marketer_cell  # as text or as a list
    admin_cell = page_csv(world, world.admin)["cookie"]
    assert all(cookie in admin_cell for cookie in COOKIES), admin_cell
    # The API: a list of one mask (the JSON shape of a soft ID is kept).
    masked = ApiClient(str(world.project.token), world.masked_key)
    full = ApiClient(str(world.project.token), world.full_key)
    body = masked.post("customers/export-one", {"customer_ids": CRM}).json()
    assert body["ids"]["cookie"] == [MASK] and body["ids"]["registered"] == MASK
    assert (
        full.post("customers/export-one", {"customer_ids": CRM}).json()["ids"]["cookie"] == COOKIES
    )
    attributes = {"customer_ids": CRM, "attributes": [{"type": "id", "id": "cookie"}]}
    assert masked.post("customers/attributes", attributes).json()["results"] == [
        {"success": True, "value": [MASK]}
    ]
    assert json.dumps(COOKIES[1]) not in json.dumps(body)


def test_a_stored_literal_mask_is_shown_as_a_value_to_an_admin(world: World) -> None:
    """Someone typed ``******`` into a form: the admin sees their value, not a masked cell,
    while the marketer still gets the mask for the PII attribute holding the same text."""
    actor = factories.system(world.project)
    customer_update(
        actor=actor,
        ids={"registered": CANARY_EMAIL},
        properties={"city": MASK, "first_name": MASK},
    )
    admin = {name: (masked, text) for name, masked, text in profile_entries(world, world.admin)}
    assert admin["city"] == (False, MASK)
    assert admin["first_name"] == (False, MASK)
    assert admin["email"] == (False, CANARY_EMAIL)
    marketer = {n: (masked, text) for n, masked, text in profile_entries(world, world.marketer)}
    assert marketer["city"] == (False, MASK)  # not PII: the stored text, shown as a value
    assert marketer["first_name"] == (True, MASK)
    assert marketer["email"] == (True, MASK)
    client = client_for(world.admin)
    client.post(
        reverse("customers:columns", kwargs={"token": world.project.token}),
        {"column": ["city", "first_name"]},
    )
    row = list_row(world, world.admin)
    assert row["city"] == ("", MASK) and row["first_name"] == ("", MASK)
