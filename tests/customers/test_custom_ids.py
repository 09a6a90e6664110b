"""Every path treats a project-defined ID as it treats ``registered`` and ``cookie`` (issue 15).

The project adds ``crm_id`` (hard, PII), ``phone_id`` (soft, PII) and ``shop_no`` (soft,
not PII: the key by which a principal without Personal data may look a customer up) with
the one service, then: tracking identifies and merges by them (a request whose IDs name
two customers merges into the one holding a hard ID; two values of one hard ID never
merge), on the single calls and on ``/batch``; a restricted user or key sees one
``******`` per PII custom ID on the list, the profile, the page CSV and the API; filtering
by a PII custom ID is refused (403) for them; exports take ``{"type": "id", "id":
"crm_id"}``; API reads look customers up by custom IDs; anonymization removes every ID of
every name, leaves one fresh cookie and none of the values anywhere in the database; and
the erased customer's hard custom ID is suppressed like ``registered``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from customers.models import Customer, CustomerId, Event
from customers.services import customer_update, event_track
from datamanager.ids import customer_id_create
from datamanager.masking import MASK
from tests import factories
from tests.api.conftest import ApiClient, body_text
from tests.conftest import CANARY_EMAIL, World

from .test_anonymization_database_search import every_row_as_text
from .test_masked_ids import list_row, page_csv, profile_entries

# Canary values of the custom IDs: they appear nowhere else.
CRM = "crm.canary.7731"
PHONES = ["phone.canary.0101", "phone.canary.0202"]
SHOP_NO = {"shop_no": "shop-7731"}  # not PII


@pytest.fixture
def custom(world: World) -> World:
    """The world's canary customer also holds ``crm_id``, two ``phone_id`` and ``shop_no``."""
    actor = factories.system(world.project)
    customer_id_create(actor=actor, name="crm_id", hard=True, pii=True)
    customer_id_create(actor=actor, name="phone_id", hard=False, pii=True)
    customer_id_create(actor=actor, name="shop_no", hard=False, pii=False)
    for phone in PHONES:
        customer_update(
            actor=actor,
            ids={"registered": CANARY_EMAIL, "crm_id": CRM, "phone_id": phone, **SHOP_NO},
            properties={},
        )
    return world


def ids_of(customer: Customer | int) -> dict[str, list[str]]:
    pk = customer if isinstance(customer, int) else customer.pk
    out: dict[str, list[str]] = {}
    for name, value in (
        CustomerId.objects.filter(customer_id=pk)
        .order_by("name", "value")
        .values_list("name", "value")
    ):
        out.setdefault(name, []).append(value)
    return out


def owner(name: str, value: str) -> int:
    return CustomerId.objects.get(name=name, value=value).customer_id


def full_api(world: World) -> ApiClient:
    return ApiClient(str(world.project.token), world.full_key)


def masked_api(world: World) -> ApiClient:
    return ApiClient(str(world.project.token), world.masked_key)


def test_the_fixture_gave_the_canary_every_custom_id(custom: World) -> None:
    assert ids_of(custom.customer) == {
        "cookie": ["ck-canary-1"],
        "crm_id": [CRM],
        "phone_id": PHONES,
        "registered": [CANARY_EMAIL],
        "shop_no": ["shop-7731"],
    }


# Tracking: identify and merge -----------------------------------------------------------------

Track = Callable[[World, dict[str, str]], None]


def _by_update(world: World, ids: dict[str, str]) -> None:
    customer_update(actor=factories.system(world.project), ids=ids, properties={"seen": 1})


def _by_event(world: World, ids: dict[str, str]) -> None:
    event_track(actor=factories.system(world.project), ids=ids, event_type="visit")


def _by_api(world: World, ids: dict[str, str]) -> None:
    response = full_api(world).track("customers", {"customer_ids": ids, "properties": {"s": 1}})
    assert response.status_code == 200, response.content


def _by_batch(world: World, ids: dict[str, str]) -> None:
    body = {
        "commands": [
            {"name": "customers/events", "data": {"customer_ids": ids, "event_type": "visit"}}
        ]
    }
    response = full_api(world).track("batch", body)
    assert response.status_code == 200, response.content
    assert response.json()["results"] == [{"success": True}], response.content


PATHS = pytest.mark.parametrize(
    "track", [_by_update, _by_event, _by_api, _by_batch], ids=["update", "event", "api", "batch"]
)


@PATHS
def test_ids_naming_two_customers_merge_into_the_one_holding_the_hard_id(
    custom: World, track: Track
) -> None:
    actor = factories.system(custom.project)
    hard = customer_update(
        actor=actor, ids={"crm_id": "crm-a"}, properties={"plan": "gold"}
    ).customer
    soft = customer_update(
        actor=actor, ids={"phone_id": "ph-b"}, properties={"plan": "free", "city": "Nitra"}
    ).customer
    event_track(actor=actor, ids={"phone_id": "ph-b"}, event_type="purchase")
    track(custom, {"phone_id": "ph-b", "crm_id": "crm-a"})
    assert not Customer.objects.filter(pk=soft.pk).exists()
    assert ids_of(hard) == {"crm_id": ["crm-a"], "phone_id": ["ph-b"]}
    hard.refresh_from_db()
    assert hard.properties["plan"] == "gold" and hard.properties["city"] == "Nitra"
    assert Event.objects.filter(customer=hard, event_type__name="purchase").count() == 1
    merge = AuditEvent.objects.get(action="customer.merge", target_id=str(hard.pk))
    assert merge.details == {"merged_customer": soft.pk}


@PATHS
def test_two_values_of_one_hard_id_never_merge(custom: World, track: Track) -> None:
    """A soft ID shared by two people (one phone, two CRM numbers) moves to the one who
    identified last; the two customers stay apart and keep their own hard IDs."""
    actor = factories.system(custom.project)
    first = customer_update(
        actor=actor, ids={"crm_id": "crm-1", "phone_id": "ph-shared"}, properties={}
    ).customer
    track(custom, {"phone_id": "ph-shared", "crm_id": "crm-2"})
    second = owner("crm_id", "crm-2")
    assert second != first.pk
    assert ids_of(first) == {"crm_id": ["crm-1"]}
    assert ids_of(second) == {"crm_id": ["crm-2"], "phone_id": ["ph-shared"]}
    assert not AuditEvent.objects.filter(action="customer.merge").exists()


@PATHS
def test_a_second_value_of_a_hard_id_is_never_attached(custom: World, track: Track) -> None:
    """The canary reached by its soft ``phone_id`` with another ``crm_id`` value: a new
    customer takes the new value; the canary keeps its one ``crm_id``."""
    track(custom, {"phone_id": PHONES[0], "crm_id": "crm-other"})
    assert ids_of(custom.customer)["crm_id"] == [CRM]
    assert owner("crm_id", "crm-other") != custom.customer.pk


@PATHS
def test_a_soft_custom_id_holds_several_values(custom: World, track: Track) -> None:
    track(custom, {"crm_id": CRM, "phone_id": "phone.canary.0303"})
    assert ids_of(custom.customer)["phone_id"] == [*PHONES, "phone.canary.0303"]


def test_hard_ids_of_two_names_on_two_customers_merge_unless_one_conflicts(
    custom: World,
) -> None:
    actor = factories.system(custom.project)
    by_email = customer_update(actor=actor, ids={"registered": "r@x.test"}, properties={}).customer
    by_crm = customer_update(actor=actor, ids={"crm_id": "crm-r"}, properties={}).customer
    tracked = customer_update(
        actor=actor, ids={"registered": "r@x.test", "crm_id": "crm-r"}, properties={}
    )
    assert set(tracked.merged_from) | {tracked.customer.pk} == {by_email.pk, by_crm.pk}
    assert ids_of(tracked.customer) == {"crm_id": ["crm-r"], "registered": ["r@x.test"]}
    # The canary's registered with another customer's crm_id: two known people, no merge.
    other = customer_update(actor=actor, ids={"crm_id": "crm-z"}, properties={}).customer
    customer_update(actor=actor, ids={"registered": CANARY_EMAIL, "crm_id": "crm-z"}, properties={})
    assert ids_of(custom.customer)["crm_id"] == [CRM]
    assert ids_of(other) == {"crm_id": ["crm-z"]}


def test_an_id_name_unknown_until_added_is_a_400_then_accepted(world: World) -> None:
    api = full_api(world)
    body = {"customer_ids": {"loyalty_id": "L-1"}, "properties": {}}
    refused = api.track("customers", body)
    assert refused.status_code == 400
    assert refused.json()["errors"] == ["Unknown customer ID name 'loyalty_id'."]
    customer_id_create(actor=factories.system(world.project), name="loyalty_id", hard=True)
    assert api.track("customers", body).status_code == 200
    assert CustomerId.objects.filter(name="loyalty_id", value="L-1").exists()


# Masking: list, profile, page CSV, API ---------------------------------------------------------


def test_a_restricted_user_sees_one_mask_per_pii_custom_id_on_list_profile_and_csv(
    custom: World,
) -> None:
    marketer_row = list_row(custom, custom.marketer)
    for name in ("crm_id", "phone_id"):
        cell_class, text = marketer_row[name]
        assert "masked" in cell_class and text == MASK, (name, marketer_row[name])
    assert marketer_row["shop_no"][1] == "shop-7731"
    admin_row = list_row(custom, custom.admin)
    assert admin_row["crm_id"][1] == CRM and admin_row["phone_id"][1] == f"{PHONES[0]} +1"

    marketer_profile = profile_entries(custom, custom.marketer)
    assert [(masked, text) for n, masked, text in marketer_profile if n == "crm_id"] == [
        (True, MASK)
    ]
    assert [(masked, text) for n, masked, text in marketer_profile if n == "phone_id"] == [
        (True, MASK)
    ]
    admin_profile = profile_entries(custom, custom.admin)
    assert [t for n, _, t in admin_profile if n == "crm_id"] == [CRM]
    assert [t for n, _, t in admin_profile if n == "phone_id"] == PHONES

    marketer_csv = page_csv(custom, custom.marketer)
    assert marketer_csv["crm_id"] == MASK
    assert marketer_csv["phone_id"] in (MASK, json.dumps([MASK]))
    admin_csv = page_csv(custom, custom.admin)
    assert admin_csv["crm_id"] == CRM and all(p in admin_csv["phone_id"] for p in PHONES)

    for user in (custom.marketer,):
        for html in _pages(custom, user):
            assert CRM not in html and not any(p in html for p in PHONES)


def _pages(world: World, user: Any) -> list[str]:
    client = Client()
    client.force_login(user)
    token = world.project.token
    urls = [
        reverse("customers:list", kwargs={"token": token}),
        reverse("customers:detail", kwargs={"token": token, "pk": world.customer.pk}),
        reverse("datamanager:catalog", kwargs={"token": token}),
    ]
    return [client.get(url).content.decode() for url in urls]


def test_a_masked_key_sees_one_mask_per_pii_custom_id_on_the_api(custom: World) -> None:
    masked, full = masked_api(custom), full_api(custom)
    body = masked.post("customers/export-one", {"customer_ids": SHOP_NO}).json()
    assert body["ids"]["crm_id"] == MASK and body["ids"]["phone_id"] == [MASK]
    assert body["ids"]["shop_no"] == ["shop-7731"]
    attributes = {
        "customer_ids": SHOP_NO,
        "attributes": [{"type": "id", "id": "crm_id"}, {"type": "id", "id": "phone_id"}],
    }
    assert masked.post("customers/attributes", attributes).json()["results"] == [
        {"success": True, "value": MASK},
        {"success": True, "value": [MASK]},
    ]
    text = json.dumps(body) + masked.post("customers/attributes", attributes).content.decode()
    assert CRM not in text and not any(p in text for p in PHONES)
    seen = full.post("customers/export-one", {"customer_ids": SHOP_NO}).json()
    assert seen["ids"]["crm_id"] == CRM and seen["ids"]["phone_id"] == PHONES
    assert full.post("customers/attributes", attributes).json()["results"] == [
        {"success": True, "value": CRM},
        {"success": True, "value": PHONES},
    ]


# The filter --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["crm_id", "phone_id"])
def test_filtering_by_a_pii_custom_id_is_refused_without_personal_data(
    custom: World, name: str
) -> None:
    client = Client()
    client.force_login(custom.marketer)
    url = reverse("customers:list", kwargs={"token": custom.project.token})
    response = client.get(f"{url}?c={name}:exists")
    assert response.status_code == 403
    html = response.content.decode()
    assert f"&#x27;{name}&#x27; is personal data" in html or f"'{name}' is personal data" in html
    assert CRM not in html
    export = {
        "format": "csv",
        "attributes": {"type": "some", "list": [{"type": "property", "property": "plan"}]},
        "filter": {"conditions": [{"attribute": name, "operator": "exists"}]},
    }
    refused = masked_api(custom).post("customers/export", export)
    assert refused.status_code == 403 and name in refused.json()["errors"][0]
    # Allowed with Personal data, and by a non-PII custom ID without it.
    admin = Client()
    admin.force_login(custom.admin)
    assert admin.get(f"{url}?c={name}:exists").status_code == 200
    assert client.get(f"{url}?c=shop_no:equals:shop-7731").status_code == 200
    narrowed = json.loads(
        body_text(
            full_api(custom).post(
                "customers/export",
                {**export, "format": "table_json"},
            )
        )
    )
    assert narrowed["rows"] == [["premium"]]


# Exports ----------------------------------------------------------------------------------

SOME = {
    "type": "some",
    "list": [
        {"type": "id", "id": "crm_id"},
        {"type": "id", "id": "phone_id"},
        {"type": "id", "id": "shop_no"},
        {"type": "property", "property": "plan"},
    ],
}


def _export(api: ApiClient, fmt: str, attributes: Any) -> Any:
    response = api.post("customers/export", {"format": fmt, "attributes": attributes})
    assert response.status_code == 200, body_text(response)
    text = body_text(response)
    return text if fmt == "csv" else json.loads(text)


def test_exports_take_custom_id_columns_masked_for_a_key_without_personal_data(
    custom: World,
) -> None:
    full, masked = full_api(custom), masked_api(custom)
    table = _export(full, "table_json", SOME)
    assert table["header"] == ["crm_id", "phone_id", "shop_no", "plan"]
    assert table["rows"] == [[CRM, PHONES, ["shop-7731"], "premium"]]
    hidden = _export(masked, "table_json", SOME)
    assert hidden["rows"] == [[MASK, [MASK], ["shop-7731"], "premium"]]
    native = _export(masked, "native_json", SOME)
    assert CRM not in json.dumps(native) and "shop-7731" in json.dumps(native)
    rows = list(csv.DictReader(io.StringIO(_export(masked, "csv", SOME))))
    assert rows[0]["crm_id"] == MASK and rows[0]["shop_no"] != MASK
    full_rows = list(csv.DictReader(io.StringIO(_export(full, "csv", SOME))))
    assert full_rows[0]["crm_id"] == CRM
    # properties_and_ids: hard IDs first (by name), then soft ones, then properties.
    every = _export(full, "table_json", {"type": "properties_and_ids"})
    ids_header = every["header"][:5]
    assert ids_header == ["crm_id", "registered", "cookie", "phone_id", "shop_no"]
    masked_every = json.dumps(_export(masked, "table_json", {"type": "properties_and_ids"}))
    assert CRM not in masked_every and not any(p in masked_every for p in PHONES)


# Lookups by a custom ID --------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids", [{"crm_id": CRM}, {"phone_id": PHONES[1]}, SHOP_NO], ids=["hard", "soft", "not-pii"]
)
def test_api_reads_find_the_customer_by_a_custom_id(custom: World, ids: dict[str, str]) -> None:
    full = full_api(custom)
    one = full.post("customers/export-one", {"customer_ids": ids})
    assert one.status_code == 200 and one.json()["ids"]["registered"] == CANARY_EMAIL
    events = full.post(
        "customers/events", {"customer_ids": ids, "event_types": ["purchase"]}
    ).json()
    assert [e["type"] for e in events["data"]] == ["purchase"]
    attrs = full.post(
        "customers/attributes",
        {"customer_ids": ids, "attributes": [{"type": "property", "property": "plan"}]},
    ).json()
    assert attrs["results"] == [{"success": True, "value": "premium"}]


@pytest.mark.parametrize("ids", [{"crm_id": CRM}, {"phone_id": PHONES[0]}], ids=["hard", "soft"])
def test_a_masked_key_may_not_look_up_by_a_pii_custom_id(
    custom: World, ids: dict[str, str]
) -> None:
    for path in ("customers/export-one", "customers/attributes", "customers/events"):
        body: dict[str, Any] = {"customer_ids": ids, "attributes": [], "event_types": []}
        response = masked_api(custom).post(path, body)
        assert response.status_code == 403, (path, response.content)
        (name,) = ids
        assert response.json()["errors"] == [
            f"Attribute '{name}' is personal data: you need the Personal data permission to "
            "look a customer up by it."
        ]
    # The same answer for a value nobody has: no oracle.
    (name,) = ids
    nobody = masked_api(custom).post("customers/export-one", {"customer_ids": {name: "nobody"}})
    assert nobody.status_code == 403


# Anonymization and suppression ---------------------------------------------------------------


def _id_values() -> list[str]:
    return [CANARY_EMAIL, "ck-canary-1", CRM, *PHONES, "shop-7731"]


@pytest.mark.parametrize("how", ["api", "bulk"])
def test_anonymizing_removes_every_id_of_every_name_and_leaves_one_fresh_cookie(
    custom: World, how: str, django_capture_on_commit_callbacks: Any
) -> None:
    api = full_api(custom)
    with django_capture_on_commit_callbacks(execute=True):
        if how == "api":
            response = api.post("customers/anonymize", {"customer_ids": {"crm_id": CRM}})
        else:
            response = api.post(
                "customers/anonymize_bulk", {"customers": [{"customer_ids": {"crm_id": CRM}}]}
            )
    assert response.status_code == 200, response.content
    customer = Customer.objects.get(pk=custom.customer.pk)
    assert customer.anonymized_at is not None
    left = ids_of(customer)
    assert list(left) == ["cookie"] and len(left["cookie"]) == 1
    assert left["cookie"][0] not in _id_values()
    dump = every_row_as_text()
    found = {
        table: [v for v in _id_values() if v in text]
        for table, text in dump.items()
        if any(v in text for v in _id_values())
    }
    assert found == {}, found


def test_an_erased_hard_custom_id_is_suppressed_and_a_soft_one_is_not(custom: World) -> None:
    api = full_api(custom)
    assert api.post("customers/anonymize", {"customer_ids": {"crm_id": CRM}}).status_code == 200
    refused = api.track("customers", {"customer_ids": {"crm_id": CRM}, "properties": {"a": 1}})
    assert refused.status_code == 403
    assert "'crm_id'" in refused.json()["errors"][0] and CRM not in refused.content.decode()
    assert not CustomerId.objects.filter(name="crm_id", value=CRM).exists()
    batch = api.track(
        "batch",
        {
            "commands": [
                {"name": "customers", "data": {"customer_ids": {"crm_id": CRM}, "properties": {}}},
                {"name": "customers", "data": {"customer_ids": {"crm_id": "crm-new"}}},
            ]
        },
    )
    results = batch.json()["results"]
    assert results[0]["success"] is False and results[1] == {"success": True}
    assert not CustomerId.objects.filter(name="crm_id", value=CRM).exists()
    # A soft ID is not an identity: tracking it again starts a new profile.
    assert (
        api.track(
            "customers", {"customer_ids": {"phone_id": PHONES[0]}, "properties": {}}
        ).status_code
        == 200
    )
    assert owner("phone_id", PHONES[0]) != custom.customer.pk
