"""A PII value of every JSON type stays hidden on every egress path (issue 20).

The shared canaries are strings, so a masker that masked only strings passed the whole
suite. Here a customer carries a PII property of every JSON type (text, zero, whole and
decimal numbers, a date as a number of seconds, true, false, a list, an empty list, an
object, date and datetime strings), PII IDs (a hard one and a soft one with two values) and
a PII event attribute of every type. Each path is read as a user and an API key without
Personal data, value by value, and as a principal with Personal data, who must see every
value as stored: the same reading proves the path carries the data at all.

The customer is addressed by its ``cookie``, which is not personal data here (looking a
customer up *by* a PII ID value is refused for a masked key, see issue 12).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Project
from access.permissions import Perm
from access.services import role_create
from customers.models import Customer
from datamanager.masking import MASK
from datamanager.services import attribute_declare, pii_flags_set
from tests import factories

# One PII property of every JSON type. The unique ones are also searched for as text.
PII_PROPERTIES: dict[str, Any] = {
    "pii_text": "Txtcanary-q71",
    "pii_zero": 0,
    "pii_int": 86753091,
    "pii_float": 271828.1828,
    "pii_date_number": 547430400,
    "pii_true": True,
    "pii_false": False,
    "pii_list": ["Lstcanary-a91", 77123],
    "pii_empty_list": [],
    "pii_object": {"n": 5, "objcanary": "Objval-k27"},  # in jsonb key order
    "pii_date": "1987-06-05",
    "pii_datetime": "2019-08-07T06:05:04Z",
}
# The same types as attributes of one event type, all flagged PII.
EVENT_TYPE = "typed_event"
PII_EVENT: dict[str, Any] = {f"ev_{k[4:]}": v for k, v in PII_PROPERTIES.items()}
CONTROL = "Ctrlvisible-z9"  # a NOT-PII property and event attribute: everyone sees it
COOKIE = "ck-typed-canary"  # a NOT-PII soft ID: how the tests address the customer
REGISTERED = "Regcanary-m3@leak.test"  # PII hard ID
DEVICES = ["Devcanary-1984-02-03", "Devcanary-2001-09-10T11:12:13Z"]  # PII soft ID, two values
PII_IDS: dict[str, Any] = {"registered": REGISTERED, "device": DEVICES}

# Text that occurs nowhere else: none of it may reach a restricted principal, anywhere.
UNIQUE_TEXT = [
    "Txtcanary-q71",
    "86753091",
    "271828.1828",
    "547430400",
    "Lstcanary-a91",
    "77123",
    "Objval-k27",
    "1987-06-05",
    "2019-08-07T06:05:04Z",
    "Regcanary-m3",
    "Devcanary-",
]
PROPERTY_COLUMNS = [*PII_PROPERTIES, "plan"]


@dataclass
class TypedWorld:
    project: Project
    customer: Customer
    admin: Any
    marketer: Any
    power_user: Any  # every permission but Personal data
    full_key: factories.KeyCredentials
    masked_key: factories.KeyCredentials

    @property
    def token(self) -> str:
        return str(self.project.token)


@pytest.fixture
def typed(db: Any) -> TypedWorld:
    project = factories.make_project("Typed shop")
    actor = factories.system(project)
    attribute_declare(actor=actor, name="device", kind="id")
    ids = {"cookie": COOKIE, "registered": REGISTERED, "device": DEVICES[0]}
    customer = factories.track_customer(
        project,
        ids,
        {**PII_PROPERTIES, "plan": CONTROL},
        [(EVENT_TYPE, {**PII_EVENT, "plain": CONTROL})],
    )
    factories.track_customer(project, {"cookie": COOKIE, "device": DEVICES[1]})
    pii_flags_set(
        actor=actor,
        customer_attributes={"registered": True, "device": True}
        | dict.fromkeys(PII_PROPERTIES, True),
        event_attributes={(EVENT_TYPE, name): True for name in PII_EVENT},
    )
    everything_but_pd = [p for p in Perm if p not in {Perm.VIEW_PERSONAL_DATA, Perm.TRACK}]
    role = role_create(actor=actor, name="Everything but PII", permissions=everything_but_pd)
    key_perms = ("read_customers", "export_customers", "manage_data")
    return TypedWorld(
        project=project,
        customer=customer,
        admin=factories.make_member(project, "typed-admin", roles=("Admin",)),
        marketer=factories.make_member(project, "typed-marketer", roles=("Marketer",)),
        power_user=factories.make_member(project, "typed-power", roles=(role.name,)),
        full_key=factories.make_key(project, *key_perms, "view_personal_data", name="Full"),
        masked_key=factories.make_key(project, *key_perms, name="Masked"),
    )


def test_the_world_is_what_the_tests_assume(typed: TypedWorld) -> None:
    from customers.models import CustomerId

    stored = Customer.objects.get(pk=typed.customer.pk)
    assert stored.properties == {**PII_PROPERTIES, "plan": CONTROL}
    values = sorted(
        CustomerId.objects.filter(customer=stored).values_list("name", "value"),
    )
    assert values == sorted(
        [("cookie", COOKIE), ("registered", REGISTERED)] + [("device", d) for d in DEVICES]
    )


# What a principal may see ---------------------------------------------------------------------


def shown(value: Any) -> str:
    """A stored value as the pages and the page CSV print it."""
    from customers.presenters import display_text

    return display_text(value)


def assert_text_clean(text: str, where: str) -> None:
    found = [c for c in UNIQUE_TEXT if c in text]
    assert not found, f"PII reached a principal without Personal data on {where}: {found}"


def assert_text_has_all(text: str, where: str) -> None:
    missing = [c for c in UNIQUE_TEXT if c not in text]
    assert not missing, f"{where} does not carry the canaries at all: {missing}"


def check_values(
    got: dict[str, Any], expected: dict[str, Any], *, masked: bool, where: str
) -> None:
    """``got[name]`` is the mask for every name (masked) or exactly ``expected[name]``."""
    for name, value in expected.items():
        assert name in got, f"{where}: {name} not shown at all"
        want = MASK if masked else value
        assert got[name] == want, f"{where}: {name} is {got[name]!r}, expected {want!r}"


# HTML -----------------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Table rows (cell texts) and dt/dd pairs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.pairs: list[tuple[str, str]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._dt: str | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th", "dt", "dd"):
            self._cell, self._in = [], tag

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "dt", "dd") and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if tag in ("td", "th") and self._row is not None:
                self._row.append(text)
            elif tag == "dt":
                self._dt = text
            elif tag == "dd" and self._dt is not None:
                self.pairs.append((self._dt, text))
                self._dt = None
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def restricted_users(typed: TypedWorld) -> list[Any]:
    return [typed.marketer, typed.power_user]


def list_page_values(typed: TypedWorld, user: Any) -> tuple[str, dict[str, str]]:
    client = signed_in(user)
    token = typed.project.token
    client.post(reverse("customers:columns", kwargs={"token": token}), {"column": PROPERTY_COLUMNS})
    response = client.get(reverse("customers:list", kwargs={"token": token}))
    assert response.status_code == 200
    html = response.content.decode()
    page = parse(html)
    names = ["registered", "device", "cookie", *PROPERTY_COLUMNS]
    header = next(r for r in page.rows if any("pii_text" in c for c in r))
    row = next(r for r in page.rows if any(COOKIE in c for c in r))
    assert len(row) == len(header)
    values: dict[str, str] = {}
    for title, cell in zip(header, row, strict=True):
        for name in names:
            if name in title.split():
                values[name] = cell
    return html, values


def test_list_page(typed: TypedWorld) -> None:
    for user in restricted_users(typed):
        html, got = list_page_values(typed, user)
        assert_text_clean(html, f"the list page ({user.username})")
        check_values(got, PII_PROPERTIES, masked=True, where="list")
        check_values(got, {"registered": 1, "device": 1}, masked=True, where="list")
        assert got["plan"] == CONTROL and got["cookie"] == COOKIE
    html, got = list_page_values(typed, typed.admin)
    assert_text_has_all(html, "the admin's list page")
    check_values(got, {k: shown(v) for k, v in PII_PROPERTIES.items()}, masked=False, where="list")
    assert got["registered"] == REGISTERED
    assert got["device"].startswith(DEVICES[0]) and "+1" in got["device"]


def profile(typed: TypedWorld, user: Any) -> tuple[str, dict[str, str], dict[str, list[str]]]:
    """The profile page: its text, property values by name, ID and event values by name."""
    url = reverse(
        "customers:detail", kwargs={"token": typed.project.token, "pk": typed.customer.pk}
    )
    response = signed_in(user).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    page = parse(html)
    props = {r[0].split()[0]: r[1] for r in page.rows if len(r) >= 2 and r[0]}
    pairs: dict[str, list[str]] = {}
    for name, value in page.pairs:
        pairs.setdefault(name, []).append(value)
    return html, props, pairs


def test_profile_page(typed: TypedWorld) -> None:
    for user in restricted_users(typed):
        html, props, pairs = profile(typed, user)
        where = f"the profile ({user.username})"
        assert_text_clean(html, where)
        check_values(props, PII_PROPERTIES, masked=True, where=where)
        assert props["plan"] == CONTROL
        # One mask per ID value (issue 13 may make this a single mask; never a value).
        assert set(pairs["registered"]) == {MASK} and set(pairs["device"]) == {MASK}
        assert pairs["cookie"] == [COOKIE]
        events = {name: values[0] for name, values in pairs.items() if name.startswith("ev_")}
        check_values(events, PII_EVENT, masked=True, where=where)
        assert pairs["plain"] == [CONTROL]
    html, props, pairs = profile(typed, typed.admin)
    assert_text_has_all(html, "the admin's profile")
    check_values(props, {k: shown(v) for k, v in PII_PROPERTIES.items()}, masked=False, where="p")
    assert pairs["registered"] == [REGISTERED] and sorted(pairs["device"]) == DEVICES
    events = {name: values[0] for name, values in pairs.items() if name.startswith("ev_")}
    check_values(events, {k: shown(v) for k, v in PII_EVENT.items()}, masked=False, where="p")


def page_csv(typed: TypedWorld, user: Any) -> tuple[str, dict[str, str]]:
    client = signed_in(user)
    token = typed.project.token
    client.post(reverse("customers:columns", kwargs={"token": token}), {"column": PROPERTY_COLUMNS})
    response = client.get(reverse("customers:export_csv", kwargs={"token": token}))
    assert response.status_code == 200, response.status_code
    text = body_of(response)
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["cookie"] == f'["{COOKIE}"]')
    return text, row


def csv_cell(value: Any) -> str:
    """A stored value as every CSV export writes it (the page's and the API's, one engine):
    a string as is, anything else as its JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


def test_page_csv_export(typed: TypedWorld) -> None:
    text, row = page_csv(typed, typed.power_user)  # the Marketer role may not export
    assert_text_clean(text, "the CSV export")
    check_values(row, PII_PROPERTIES, masked=True, where="CSV")
    check_values(row, {"registered": 1}, masked=True, where="CSV")
    assert row["device"] == f'["{MASK}"]'  # the soft ID's shape, one mask for two values
    assert row["plan"] == CONTROL
    text, row = page_csv(typed, typed.admin)
    assert_text_has_all(text, "the admin's CSV export")
    expected = {k: csv_cell(v) for k, v in PII_PROPERTIES.items()}
    check_values(row, expected, masked=False, where="CSV")
    assert row["registered"] == REGISTERED and json.loads(row["device"]) == DEVICES


def test_data_manager_page_samples(typed: TypedWorld) -> None:
    url = reverse("datamanager:catalog", kwargs={"token": typed.project.token})
    for user in restricted_users(typed):
        response = signed_in(user).get(url)
        if response.status_code == 403:
            continue  # a Marketer may not open the Data manager
        assert response.status_code == 200
        html = response.content.decode()
        assert_text_clean(html, f"the Data manager ({user.username})")
        assert CONTROL in html
    html = signed_in(typed.admin).get(url).content.decode()
    assert_text_has_all(html, "the admin's Data manager")


# The HTTP API ---------------------------------------------------------------------------------


def api(typed: TypedWorld, key: factories.KeyCredentials, path: str, body: Any) -> Any:
    return Client().post(
        f"/data/v2/projects/{typed.token}/{path}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=key.basic,
    )


def body_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return str(response.content.decode())


BY_COOKIE = {"customer_ids": {"cookie": COOKIE}}


def assert_ids(value: Any, *, masked: bool) -> None:
    """The soft PII ID: both values, or only masks (one per value today; issue 13 may make
    it a single mask so the count does not show either)."""
    if not masked:
        assert value == DEVICES
    elif isinstance(value, list):
        assert value and set(value) == {MASK}, value
    else:
        assert value == MASK


@pytest.mark.parametrize("masked", [True, False], ids=["masked-key", "full-key"])
def test_api_export_one(typed: TypedWorld, masked: bool) -> None:
    key = typed.masked_key if masked else typed.full_key
    response = api(typed, key, "customers/export-one", BY_COOKIE)
    assert response.status_code == 200
    text = body_of(response)
    (assert_text_clean if masked else assert_text_has_all)(text, "export-one")
    data = json.loads(text)
    check_values(data["properties"], PII_PROPERTIES, masked=masked, where="export-one")
    assert data["properties"]["plan"] == CONTROL
    assert data["ids"]["registered"] == (MASK if masked else REGISTERED)
    assert_ids(data["ids"]["device"], masked=masked)
    assert data["ids"]["cookie"] == [COOKIE]
    event = next(e for e in data["events"] if e["type"] == EVENT_TYPE)
    check_values(event["properties"], PII_EVENT, masked=masked, where="export-one events")
    assert event["properties"]["plain"] == CONTROL


@pytest.mark.parametrize("masked", [True, False], ids=["masked-key", "full-key"])
def test_api_attributes(typed: TypedWorld, masked: bool) -> None:
    key = typed.masked_key if masked else typed.full_key
    names = [*PII_PROPERTIES, "plan"]
    body = {
        **BY_COOKIE,
        "attributes": [{"type": "property", "property": n} for n in names]
        + [{"type": "id", "id": n} for n in ("registered", "device", "cookie")],
    }
    response = api(typed, key, "customers/attributes", body)
    assert response.status_code == 200
    text = body_of(response)
    (assert_text_clean if masked else assert_text_has_all)(text, "attributes")
    results = json.loads(text)["results"]
    assert all(r["success"] for r in results)
    got = dict(
        zip([*names, "registered", "device", "cookie"], [r["value"] for r in results], strict=True)
    )
    check_values(got, PII_PROPERTIES, masked=masked, where="attributes")
    assert got["plan"] == CONTROL and got["cookie"] == [COOKIE]
    assert got["registered"] == (MASK if masked else REGISTERED)
    assert_ids(got["device"], masked=masked)


@pytest.mark.parametrize("masked", [True, False], ids=["masked-key", "full-key"])
def test_api_events(typed: TypedWorld, masked: bool) -> None:
    key = typed.masked_key if masked else typed.full_key
    body = {**BY_COOKIE, "event_types": [EVENT_TYPE]}
    response = api(typed, key, "customers/events", body)
    assert response.status_code == 200
    text = body_of(response)
    data = json.loads(text)
    if masked:
        assert_text_clean(text, "events")
    else:  # the events answer carries no IDs
        ids = ("Regcanary-m3", "Devcanary-")
        assert all(c in text for c in UNIQUE_TEXT if c not in ids), text
    (event,) = data["data"]
    check_values(event["properties"], PII_EVENT, masked=masked, where="events")
    assert event["properties"]["plain"] == CONTROL


def export_fields() -> list[dict[str, str]]:
    return [{"type": "id", "id": n} for n in ("cookie", "registered", "device")] + [
        {"type": "property", "property": n} for n in PROPERTY_COLUMNS
    ]


@pytest.mark.parametrize("masked", [True, False], ids=["masked-key", "full-key"])
def test_api_export_json(typed: TypedWorld, masked: bool) -> None:
    key = typed.masked_key if masked else typed.full_key
    body = {"format": "native_json", "attributes": export_fields()}
    response = api(typed, key, "customers/export", body)
    assert response.status_code == 200
    text = body_of(response)
    (assert_text_clean if masked else assert_text_has_all)(text, "export (JSON)")
    data = json.loads(text)
    names = [f.get("id") or f.get("property") for f in data["fields"]]
    row = next(dict(zip(names, r, strict=True)) for r in data["data"] if r[0] == [COOKIE])
    check_values(row, PII_PROPERTIES, masked=masked, where="export (JSON)")
    assert row["plan"] == CONTROL
    assert row["registered"] == (MASK if masked else REGISTERED)
    assert_ids(row["device"], masked=masked)


@pytest.mark.parametrize("masked", [True, False], ids=["masked-key", "full-key"])
def test_api_export_csv(typed: TypedWorld, masked: bool) -> None:
    key = typed.masked_key if masked else typed.full_key
    body = {"format": "csv", "attributes": export_fields()}
    response = api(typed, key, "customers/export", body)
    assert response.status_code == 200
    text = body_of(response)
    (assert_text_clean if masked else assert_text_has_all)(text, "export (CSV)")
    row = next(r for r in csv.DictReader(io.StringIO(text)) if COOKIE in r["cookie"])

    expected = {k: csv_cell(v) for k, v in PII_PROPERTIES.items()}
    check_values(row, expected, masked=masked, where="export (CSV)")
    assert row["plan"] == CONTROL
    assert row["registered"] == (MASK if masked else REGISTERED)
    device = row["device"] if row["device"] == MASK else json.loads(row["device"])
    assert_ids(device, masked=masked)


@pytest.mark.parametrize("masked", [True, False], ids=["masked-key", "full-key"])
def test_api_tracked_value_samples(typed: TypedWorld, masked: bool) -> None:
    key = typed.masked_key if masked else typed.full_key
    response = Client().get(
        f"/data/v2/projects/{typed.token}/data-manager/catalog?include=values,suggestions",
        HTTP_AUTHORIZATION=key.basic,
    )
    assert response.status_code == 200
    text = body_of(response)
    (assert_text_clean if masked else assert_text_has_all)(text, "catalog?include=values")
    data = json.loads(text)
    customer = {a["name"]: a["values"] for a in data["customer_attributes"]}
    event_type = next(t for t in data["event_types"] if t["name"] == EVENT_TYPE)
    events = {a["name"]: a["values"] for a in event_type["attributes"]}
    for name in [*PII_PROPERTIES, "registered", "device"]:
        assert (customer[name] == {"personal_data": True}) is masked, (name, customer[name])
    for name in PII_EVENT:
        assert (events[name] == {"personal_data": True}) is masked, (name, events[name])
    assert customer["plan"]["values"] == [{"value": CONTROL, "count": 1}]


# Errors ---------------------------------------------------------------------------------------


def test_error_responses_carry_no_value(typed: TypedWorld) -> None:
    """Refusals and bad input name attributes, never a value (nor the one in the request)."""
    for name, value in [("pii_int", 86753091), ("pii_text", "Txtcanary-q71")]:
        body = {
            "format": "native_json",
            "filter": {"conditions": [{"attribute": name, "operator": "equals", "value": value}]},
        }
        response = api(typed, typed.masked_key, "customers/export", body)
        assert response.status_code == 403
        text = body_of(response)
        assert_text_clean(text, "a refused export filter")
        assert name in text
    bad = api(typed, typed.masked_key, "customers/attributes", {**BY_COOKIE, "attributes": [1]})
    assert bad.status_code == 200
    assert_text_clean(body_of(bad), "a bad attribute request")
    for user in restricted_users(typed):
        url = reverse("customers:list", kwargs={"token": typed.project.token})
        page = signed_in(user).get(url, {"c": "pii_text:equals:Txtcanary-q71"})
        assert page.status_code == 403, page.status_code
        assert_text_clean(page.content.decode(), "a refused list filter")
