"""Public tracking keys (issue 15): ``Authorization: Token <key>`` or ``?access_token=``.

A public key may only track: every read, export, anonymization, catalog or consent read
answers 403 (what it receives is checked); it never holds Personal data (the service and a
database constraint). The tracking endpoints answer CORS preflights for the origins the
project lists and no other endpoint answers a browser from another origin. A public key's
hard IDs follow the project's policy; a claimed one is dropped without a word, so the
answer is the same whether or not an e-mail address is a customer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client

from access.errors import InvalidInput
from access.models import ApiKey, AuditEvent, TrackingSettings
from access.services import api_key_create, tracking_settings_update
from customers.models import Customer, CustomerId, Event
from tests import factories
from tests.conftest import CANARIES, CANARY_EMAIL, World

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example"


def _public(project: Any, name: str = "Web") -> ApiKey:
    key, secret = api_key_create(
        actor=factories.system(project), name=name, permissions=["track"], kind="public"
    )
    assert secret == ""  # nothing to show: the key id is the whole credential
    return key


def _post(url: str, body: Any, **headers: Any) -> Any:
    return Client().post(url, data=json.dumps(body), content_type="application/json", **headers)


def _track(project: Any, path: str, body: Any, key: ApiKey, **extra: Any) -> Any:
    return _post(
        f"/track/v2/projects/{project.token}/{path}",
        body,
        HTTP_AUTHORIZATION=f"Token {key.key_id}",
        **extra,
    )


# What a public key is ---------------------------------------------------------------------


def test_a_public_key_may_hold_track_only() -> None:
    project = factories.make_project()
    system = factories.system(project)
    for perms in (["track", "read_customers"], ["view_personal_data"], ["export_customers"]):
        with pytest.raises(InvalidInput, match="A public key may only track"):
            api_key_create(actor=system, name="Web", permissions=perms, kind="public")
    assert not ApiKey.objects.filter(kind="public").exists()
    key = _public(project)
    assert key.permission_names == ["track"] and len(key.key_id) == 48
    event = AuditEvent.objects.get(action="api_key.create", target_id=str(key.pk))
    assert event.details["kind"] == "public"
    # The database refuses a public key with Personal data, whatever writes it.
    key.can_view_personal_data = True
    with pytest.raises(IntegrityError), transaction.atomic():
        key.save()


def test_token_header_and_access_token_both_track(world: World) -> None:
    key = _public(world.project)
    body = {"customer_ids": {"cookie": "ck-web-1"}, "properties": {"plan": "free"}}
    response = _track(world.project, "customers", body, key)
    assert response.status_code == 200 and response.json() == {"errors": [], "success": True}
    via_query = _post(
        f"/track/v2/projects/{world.project.token}/customers/events?access_token={key.key_id}",
        {"customer_ids": {"cookie": "ck-web-1"}, "event_type": "page_visit"},
    )
    assert via_query.status_code == 200
    customer = CustomerId.objects.get(name="cookie", value="ck-web-1").customer
    assert customer.properties == {"plan": "free"}
    assert Event.objects.filter(customer=customer).count() == 1
    assert _track(world.project, "system/time", None, key).status_code == 405
    time = Client().get(
        f"/track/v2/projects/{world.project.token}/system/time",
        HTTP_AUTHORIZATION=f"Token {key.key_id}",
    )
    assert time.status_code == 200 and time.json()["success"] is True


def test_credentials_of_one_kind_never_pass_as_the_other(world: World) -> None:
    public = _public(world.project)
    url = f"/track/v2/projects/{world.project.token}/customers"
    body = {"customer_ids": {"cookie": "ck-x"}}
    unknown = _post(url, body, HTTP_AUTHORIZATION="Token " + "0" * 48)
    assert unknown.status_code == 401
    assert unknown.json() == {"success": False, "error": "Invalid API key or secret."}
    # A private key's id is not a public token; a public key id with any secret is not Basic.
    private_id = _post(url, body, HTTP_AUTHORIZATION=f"Token {world.full_key.key.key_id}")
    assert private_id.json() == unknown.json()
    as_basic = factories.KeyCredentials(key=public, secret="anything").basic
    assert _post(url, body, HTTP_AUTHORIZATION=as_basic).json() == unknown.json()
    query = _post(url + f"?access_token={world.full_key.key.key_id}", body)
    assert query.json() == unknown.json()
    revoked = _public(world.project, "Old")
    revoked.revoked_at = revoked.created_at
    revoked.save(update_fields=["revoked_at"])
    assert _track(world.project, "customers", body, revoked).json() == unknown.json()
    assert not CustomerId.objects.filter(value="ck-x").exists()
    foreign = _track(world.other_project, "customers", body, public)
    assert foreign.status_code == 404
    assert foreign.json() == {"success": False, "errors": ["Project not found."]}


READS = [
    ("data", "customers/export-one", {"customer_ids": {"registered": CANARY_EMAIL}}),
    (
        "data",
        "customers/attributes",
        {
            "customer_ids": {"registered": CANARY_EMAIL},
            "attributes": [{"type": "property", "property": "email"}],
        },
    ),
    (
        "data",
        "customers/events",
        {"customer_ids": {"registered": CANARY_EMAIL}, "event_types": ["purchase"]},
    ),
    ("data", "customers/export", {"format": "csv"}),
    ("data", "customers/anonymize", {"customer_ids": {"registered": CANARY_EMAIL}}),
]


@pytest.mark.parametrize(("api", "path", "body"), READS, ids=[r[1] for r in READS])
def test_a_public_key_never_reads_exports_or_anonymizes(
    world: World, api: str, path: str, body: Any
) -> None:
    key = _public(world.project)
    response = _post(
        f"/{api}/v2/projects/{world.project.token}/{path}",
        body,
        HTTP_AUTHORIZATION=f"Token {key.key_id}",
    )
    assert response.status_code == 403
    text = response.content.decode()
    assert response.json()["success"] is False
    assert not [c for c in CANARIES if c in text]
    assert Customer.objects.filter(pk=world.customer.pk, anonymized_at__isnull=True).exists()


def test_a_public_key_may_not_read_consent_categories_or_the_catalog(world: World) -> None:
    key = _public(world.project)
    for path in ("consent/categories", "data-manager/ids"):
        response = Client().get(
            f"/data/v2/projects/{world.project.token}/{path}",
            HTTP_AUTHORIZATION=f"Token {key.key_id}",
        )
        assert response.status_code in (403, 405), path
        assert response.json()["success"] is False


# CORS ---------------------------------------------------------------------------------------


def _preflight(project_token: Any, path: str, origin: str, api: str = "track") -> Any:
    return Client().options(
        f"/{api}/v2/projects/{project_token}/{path}",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


def test_preflights_are_answered_for_listed_origins_on_the_tracking_endpoints(
    world: World,
) -> None:
    tracking_settings_update(
        actor=factories.system(world.project),
        allowed_origins=[ORIGIN + "/", "  ", "HTTPS://Shop.Example"],
        public_hard_ids="unclaimed",
    )
    assert TrackingSettings.objects.get(project=world.project).allowed_origins == [ORIGIN]
    for path in ("customers", "customers/events", "batch", "system/time"):
        response = _preflight(world.project.token, path, ORIGIN)
        assert response.status_code == 204, path
        assert response["Access-Control-Allow-Origin"] == ORIGIN
        assert "Authorization" in response["Access-Control-Allow-Headers"]
        assert "POST" in response["Access-Control-Allow-Methods"]
        assert "Access-Control-Allow-Credentials" not in response
        assert response["Vary"] == "Origin"
    # The actual request carries the header too.
    key = _public(world.project)
    actual = _track(
        world.project, "customers", {"customer_ids": {"cookie": "ck-o"}}, key, HTTP_ORIGIN=ORIGIN
    )
    assert actual.status_code == 200 and actual["Access-Control-Allow-Origin"] == ORIGIN


def test_unlisted_origins_unknown_tokens_and_other_endpoints_get_no_cors(world: World) -> None:
    tracking_settings_update(
        actor=factories.system(world.project), allowed_origins=[ORIGIN], public_hard_ids="never"
    )
    refused = _preflight(world.project.token, "customers", "https://evil.example")
    unknown = _preflight("00000000-0000-0000-0000-000000000000", "customers", ORIGIN)
    foreign = _preflight(world.other_project.token, "customers", ORIGIN)
    malformed = _preflight("not-a-token", "customers", ORIGIN)
    for response in (refused, unknown, foreign, malformed):
        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response
        assert response.content == refused.content
    assert refused.json() == {
        "success": False,
        "errors": ["This origin may not call the tracking API."],
    }
    # Reads never answer a browser from another origin, listed or not.
    for path in ("customers/export-one", "customers/attributes", "consent/categories"):
        response = _preflight(world.project.token, path, ORIGIN, api="data")
        assert "Access-Control-Allow-Origin" not in response, path
    read = _post(
        f"/data/v2/projects/{world.project.token}/customers/export-one",
        {"customer_ids": {"cookie": "ck-canary-1"}},
        HTTP_AUTHORIZATION=world.full_key.basic,
        HTTP_ORIGIN=ORIGIN,
    )
    assert "Access-Control-Allow-Origin" not in read
    # An unlisted origin's actual tracking request gets no CORS header.
    key = _public(world.project)
    actual = _track(
        world.project,
        "customers",
        {"customer_ids": {"cookie": "ck-e"}},
        key,
        HTTP_ORIGIN="https://evil.example",
    )
    assert "Access-Control-Allow-Origin" not in actual


def test_tracking_settings_refuse_bad_input_with_nothing_written(world: World) -> None:
    system = factories.system(world.project)
    for origins, message in (
        (["https://shop.example/path"], "Origin 1"),
        (["ftp://shop.example"], "Origin 1"),
        ([ORIGIN, "*"], "Origin 2"),
        ([ORIGIN, "https://user@shop.example"], "Origin 2"),
    ):
        with pytest.raises(InvalidInput, match=message):
            tracking_settings_update(actor=system, allowed_origins=origins, public_hard_ids="any")
    with pytest.raises(InvalidInput):
        tracking_settings_update(actor=system, allowed_origins=[], public_hard_ids="sometimes")
    assert not TrackingSettings.objects.filter(project=world.project).exists()
    assert not AuditEvent.objects.filter(action="tracking_settings.update").exists()


def test_the_page_saves_tracking_settings_audited(world: World) -> None:
    client = Client()
    client.force_login(world.admin)
    url = f"/projects/{world.project.token}/settings/api/tracking/"
    response = client.post(
        url, {"allowed_origins": f"{ORIGIN}\nhttps://m.shop.example", "public_hard_ids": "never"}
    )
    assert response.status_code == 302
    saved = TrackingSettings.objects.get(project=world.project)
    assert saved.allowed_origins == [ORIGIN, "https://m.shop.example"]
    assert saved.public_hard_ids == "never"
    event = AuditEvent.objects.get(action="tracking_settings.update")
    assert event.actor_label == "alice"
    bad = client.post(url, {"allowed_origins": "not an origin", "public_hard_ids": "never"})
    assert bad.status_code == 400
    assert (
        TrackingSettings.objects.get(project=world.project).allowed_origins == saved.allowed_origins
    )
    marketer = Client()
    marketer.force_login(world.marketer)
    assert marketer.post(url, {"allowed_origins": "", "public_hard_ids": "any"}).status_code == 403


# Hard IDs -----------------------------------------------------------------------------------


def _policy(world: World, policy: str) -> None:
    tracking_settings_update(
        actor=factories.system(world.project), allowed_origins=[], public_hard_ids=policy
    )


def test_a_public_key_cannot_attach_someone_elses_hard_id(world: World) -> None:
    """The attack: copy the site's public key and attach the victim's e-mail to one's own
    cookie. Default policy: the claimed hard ID is dropped; the answer is the one a new
    e-mail address gets, so it does not tell whether the victim is a customer."""
    key = _public(world.project)
    claimed = _track(
        world.project,
        "customers",
        {"customer_ids": {"cookie": "ck-attacker", "registered": CANARY_EMAIL}},
        key,
    )
    fresh = _track(
        world.project,
        "customers",
        {"customer_ids": {"cookie": "ck-newcomer", "registered": "new@shop.test"}},
        key,
    )
    assert claimed.status_code == fresh.status_code == 200
    assert claimed.content == fresh.content
    attacker = CustomerId.objects.get(name="cookie", value="ck-attacker").customer
    assert attacker.pk != world.customer.pk
    assert not CustomerId.objects.filter(customer=attacker, name="registered").exists()
    assert CustomerId.objects.get(name="registered", value=CANARY_EMAIL).customer_id == (
        world.customer.pk
    )
    # Sign-up: a hard ID no one holds is attached to the browser's customer.
    newcomer = CustomerId.objects.get(name="cookie", value="ck-newcomer").customer
    assert CustomerId.objects.filter(customer=newcomer, name="registered").exists()
    # A returning visitor: the cookie already names the holder, so the hard ID is kept.
    back = _track(
        world.project,
        "customers/events",
        {
            "customer_ids": {"cookie": "ck-canary-1", "registered": CANARY_EMAIL},
            "event_type": "page_visit",
        },
        key,
    )
    assert back.status_code == 200
    assert Customer.objects.filter(pk=world.customer.pk).exists()
    assert Event.objects.filter(customer=world.customer).count() == 3


def test_the_never_and_any_policies_and_the_soft_id_rule(world: World) -> None:
    key = _public(world.project)
    only_hard = _track(
        world.project, "customers", {"customer_ids": {"registered": "x@y.test"}}, key
    )
    assert only_hard.status_code == 400
    assert only_hard.json() == {
        "success": False,
        "errors": ["A public key must send a soft ID (such as cookie) in customer_ids."],
    }
    _policy(world, "never")
    never = _track(
        world.project, "customers", {"customer_ids": {"cookie": "c", "registered": "x@y.test"}}, key
    )
    assert never.status_code == 403
    assert not CustomerId.objects.filter(value__in=["c", "x@y.test"]).exists()
    _policy(world, "any")  # Exponea's behaviour: the profiles merge
    merged = _track(
        world.project,
        "customers",
        {"customer_ids": {"cookie": "ck-attacker", "registered": CANARY_EMAIL}},
        key,
    )
    assert merged.status_code == 200
    assert CustomerId.objects.get(value="ck-attacker").customer_id == world.customer.pk


def test_the_batch_applies_the_policy_per_command(world: World) -> None:
    key = _public(world.project)
    response = _track(
        world.project,
        "batch",
        {
            "commands": [
                {
                    "name": "customers",
                    "command_id": "a",
                    "data": {"customer_ids": {"registered": "z@y.test"}},
                },
                {
                    "name": "customers/events",
                    "data": {
                        "customer_ids": {"cookie": "ck-b1", "registered": CANARY_EMAIL},
                        "event_type": "view",
                    },
                },
                {"name": "system/time"},
            ]
        },
        key,
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0] == {
        "success": False,
        "errors": ["A public key must send a soft ID (such as cookie) in customer_ids."],
        "command_id": "a",
    }
    assert results[1] == {"success": True}
    assert results[2]["success"] is True and "time" in results[2]
    browser = CustomerId.objects.get(value="ck-b1").customer
    assert browser.pk != world.customer.pk
    assert not CustomerId.objects.filter(value="z@y.test").exists()


def test_the_command_line_creates_a_public_key() -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    project = factories.make_project()
    out = StringIO()
    call_command("create_api_key", str(project.token), "Web", "--public", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["kind"] == "public" and data["secret"] == "" and data["permissions"] == ["track"]
    assert ApiKey.objects.get(key_id=data["key_id"]).is_public
    with pytest.raises(CommandError, match="A public key may only track"):
        call_command(
            "create_api_key",
            str(project.token),
            "Web2",
            "--public",
            "--permission",
            "read_customers",
        )


def test_a_public_key_is_throttled_per_address_not_for_every_visitor(
    world: World, settings: Any
) -> None:
    """Every visitor shares the public key: one client spending the rate must not stop the
    others (Exponea's tracking limit is per IP)."""
    settings.EXPONEA_API_THROTTLE_RATES = {"track": "2/min", "data": None}
    key = _public(world.project)
    body = {"customer_ids": {"cookie": "ck-t"}}
    first = [
        _track(world.project, "customers", body, key, REMOTE_ADDR="198.51.100.1").status_code
        for _ in range(3)
    ]
    assert first == [200, 200, 429]
    other = _track(world.project, "customers", body, key, REMOTE_ADDR="198.51.100.2")
    assert other.status_code == 200
