"""Retention policies (issue 17, item 2): each kind removes exactly what its preview said,
skips customers on legal hold, survives a worker killed mid-run, runs from Celery beat's
schedule and the command line, and leaves none of the removed values in the database.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEvent
from customers.models import AnonymizationJob, AnonymizationJobItem, Customer, Event
from customers.services.legal_hold import legal_hold_place
from datamanager.services import pii_flags_set
from retention import services, tasks
from retention.models import RetentionPolicy, RetentionRun
from tests import factories
from tests.conftest import World
from tests.customers.test_anonymization_database_search import every_row_as_text

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - dt.timedelta(days=800)
OLD_PHONES = ["+421 955 000 101", "+421 955 000 102", "+421 955 000 103"]


def _customer(world: World, n: int, *, active: bool = False, event_type: str = "purchase") -> Any:
    customer = factories.track_customer(
        world.project,
        {"registered": f"ret{n}@retention.test"},
        {"phone": OLD_PHONES[n % 3] if n < 3 else f"+421 955 111 {n:03d}", "city": "Nitra"},
        [(event_type, {"total": n, "shipping_address": f"{n} Retention Road"})],
    )
    if not active:
        Customer.objects.filter(pk=customer.pk).update(updated_at=LONG_AGO)
    return customer


@pytest.fixture
def people(world: World) -> dict[str, Any]:
    """Two inactive customers, one active one (tracked now), one inactive on legal hold."""
    Customer.objects.filter(pk=world.customer.pk).update(updated_at=timezone.now())
    inactive = [_customer(world, 0), _customer(world, 1)]
    active = _customer(world, 5, active=True)
    Event.objects.filter(customer=active).update(timestamp=timezone.now())
    held = _customer(world, 2)
    admin = factories.principal_of(world.admin, world.project)
    legal_hold_place(actor=admin, customer_pk=held.pk, reason="Case 7")
    Customer.objects.filter(pk=held.pk).update(updated_at=LONG_AGO)
    return {"inactive": inactive, "active": active, "held": held, "admin": admin}


def _policy(actor: Any, kind: str, **kw: Any) -> RetentionPolicy:
    return services.retention_policy_create(
        actor=actor, kind=kind, days=kw.pop("days", 365), purpose="Kept one year", **kw
    )


def _run(actor: Any, policy: RetentionPolicy, size: int = 1000) -> RetentionRun:
    run = services.retention_run_start(
        actor=actor, policy_pk=policy.pk, trigger=RetentionRun.Trigger.MANUAL, start=False
    )
    return services.retention_run_all(run_id=run.pk, size=size)


def test_attribute_policy_removes_exactly_what_the_preview_counted(people: dict[str, Any]) -> None:
    admin = people["admin"]
    policy = _policy(admin, "attribute", attribute="phone")
    preview = services.retention_preview(admin, policy)
    assert preview.count == 2 and preview.unit == "customer"

    run = _run(admin, policy, size=1)
    assert (run.status, run.total, run.done) == ("done", 2, 2)
    for customer in people["inactive"]:
        stored = Customer.objects.get(pk=customer.pk)
        assert "phone" not in stored.properties and stored.properties["city"] == "Nitra"
        assert "phone" not in stored.property_timestamps
        assert stored.updated_at == LONG_AGO  # removing is not activity
    assert "phone" in Customer.objects.get(pk=people["active"].pk).properties
    assert "phone" in Customer.objects.get(pk=people["held"].pk).properties
    assert services.retention_preview(admin, policy).count == 0


def test_events_delete_policy_deletes_old_events_of_its_type_only(
    world: World, people: dict[str, Any]
) -> None:
    admin = people["admin"]
    factories.track_customer(world.project, {"registered": "ret0@retention.test"}, {}, [])
    policy = _policy(admin, "events_delete", event_type="purchase")
    preview = services.retention_preview(admin, policy)
    # The world customer's and the two inactive customers' old purchases; not the held
    # customer's, not the active customer's recent one.
    assert preview.count == 3 and preview.unit == "event"
    run = _run(admin, policy, size=2)
    assert (run.status, run.done) == ("done", 3)
    remaining = Event.objects.filter(event_type__name="purchase")
    assert set(remaining.values_list("customer_id", flat=True)) == {
        people["active"].pk,
        people["held"].pk,
    }
    assert Event.objects.filter(customer=world.customer, event_type__name="page_visit").exists()


def test_events_strip_policy_removes_only_pii_attributes(
    world: World, people: dict[str, Any]
) -> None:
    admin = people["admin"]
    policy = _policy(admin, "events_strip", event_type="purchase")
    assert services.retention_preview(admin, policy).count == 3
    run = _run(admin, policy)
    assert run.done == 3
    for customer in [world.customer, *people["inactive"]]:
        props = Event.objects.get(customer=customer, event_type__name="purchase").properties
        assert "shipping_address" not in props and "total" in props
    held = Event.objects.get(customer=people["held"], event_type__name="purchase").properties
    assert held["shipping_address"] == "2 Retention Road"


def test_events_strip_of_a_type_without_pii_previews_nothing(
    world: World, people: dict[str, Any]
) -> None:
    admin = people["admin"]
    pii_flags_set(actor=admin, event_attributes={("purchase", "shipping_address"): False})
    policy = _policy(admin, "events_strip", event_type="purchase")
    preview = services.retention_preview(admin, policy)
    assert preview.count == 0 and "no PII attributes" in preview.note


def test_anonymize_policy_is_an_anonymization_job_that_skips_held_customers(
    people: dict[str, Any],
) -> None:
    admin = people["admin"]
    policy = _policy(admin, "anonymize", days=400)
    assert services.retention_preview(admin, policy).count == 2
    run = _run(admin, policy)
    assert run.status == "done" and run.done == 2
    assert run.job_id is not None
    job = AnonymizationJob.objects.get(pk=run.job_id)
    assert job.source == "retention" and job.status == "done"
    for customer in people["inactive"]:
        assert Customer.objects.get(pk=customer.pk).anonymized_at is not None
    assert Customer.objects.get(pk=people["held"].pk).anonymized_at is None
    assert Customer.objects.get(pk=people["active"].pk).anonymized_at is None
    assert not AnonymizationJobItem.objects.filter(job=job, customer=people["held"]).exists()


def test_a_hold_placed_during_a_run_is_respected(people: dict[str, Any]) -> None:
    admin = people["admin"]
    policy = _policy(admin, "attribute", attribute="phone")
    run = services.retention_run_start(
        actor=admin, policy_pk=policy.pk, trigger="manual", start=False
    )
    assert services.retention_run_step(run_id=run.pk, size=1) is True
    first, second = sorted(people["inactive"], key=lambda c: c.pk)
    legal_hold_place(actor=admin, customer_pk=second.pk, reason="Late hold")
    services.retention_run_all(run_id=run.pk, size=1)
    assert "phone" not in Customer.objects.get(pk=first.pk).properties
    assert "phone" in Customer.objects.get(pk=second.pk).properties


def test_a_worker_killed_mid_chunk_loses_nothing_and_does_nothing_twice(
    people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = people["admin"]
    policy = _policy(admin, "attribute", attribute="phone")
    run = services.retention_run_start(
        actor=admin, policy_pk=policy.pk, trigger="manual", start=False
    )
    assert services.retention_run_step(run_id=run.pk, size=1) is True
    original = services._chunk_apply

    def dies_after_changing(run_: RetentionRun, size: int) -> int:
        original(run_, size)
        raise SystemExit("worker killed")  # after the UPDATE, before the commit

    monkeypatch.setattr(services, "_chunk_apply", dies_after_changing)
    with pytest.raises(SystemExit):
        services.retention_run_step(run_id=run.pk, size=1)
    monkeypatch.setattr(services, "_chunk_apply", original)
    state = RetentionRun.objects.get(pk=run.pk)
    assert (state.status, state.done) == ("running", 1)
    still = [c for c in people["inactive"] if "phone" in Customer.objects.get(pk=c.pk).properties]
    assert len(still) == 1  # the killed chunk rolled back

    finished = services.retention_run_all(run_id=run.pk, size=1)
    assert (finished.status, finished.done, finished.total) == ("done", 2, 2)


def test_celery_beat_schedules_the_daily_task_and_it_runs_due_policies(
    people: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["retention-daily"]
    assert entry["task"] == "retention.apply_due" == tasks.retention_apply_due_task.name
    admin = people["admin"]
    enabled = _policy(admin, "attribute", attribute="phone", enabled=True)
    _policy(admin, "events_delete", event_type="purchase")  # not enabled: never runs

    with django_capture_on_commit_callbacks(execute=True):
        tasks.retention_apply_due_task.apply()  # what beat sends; runs eagerly here
    runs = list(RetentionRun.objects.all())
    assert [(r.policy_id, r.status, r.done, r.trigger) for r in runs] == [
        (enabled.pk, "done", 2, "schedule")
    ]
    assert Event.objects.filter(event_type__name="purchase").count() == 5
    with django_capture_on_commit_callbacks(execute=True):
        tasks.retention_apply_due_task.apply()  # the same day again: nothing is due
    assert RetentionRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="retention.run_done").count() == 1


def test_command_dry_run_changes_nothing_then_applies(people: dict[str, Any]) -> None:
    admin = people["admin"]
    _policy(admin, "attribute", attribute="phone", enabled=True)
    out = io.StringIO()
    call_command("apply_retention", "--dry-run", stdout=out, stderr=io.StringIO())
    assert "would change 2 customer(s)" in out.getvalue()
    assert not RetentionRun.objects.exists()
    assert all("phone" in Customer.objects.get(pk=c.pk).properties for c in people["inactive"])

    out = io.StringIO()
    err = io.StringIO()
    call_command("apply_retention", stdout=out, stderr=err)
    assert "done, 2 of 2 changed" in out.getvalue()
    assert "100%" in err.getvalue()  # the progress bar
    assert all("phone" not in Customer.objects.get(pk=c.pk).properties for c in people["inactive"])
    for phone in OLD_PHONES[:2]:
        assert phone not in out.getvalue() + err.getvalue()


def test_no_removed_value_is_left_in_the_database(people: dict[str, Any]) -> None:
    admin = people["admin"]
    _run(admin, _policy(admin, "attribute", attribute="phone"))
    _run(admin, _policy(admin, "events_strip", event_type="purchase"))
    everything = "\n".join(every_row_as_text().values())
    for gone in [*OLD_PHONES[:2], "0 Retention Road", "1 Retention Road"]:
        assert gone not in everything
    assert OLD_PHONES[2] in everything  # the held customer's stays


# Validation and permissions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("attribute", {"attribute": "nope", "days": "30"}, "Choose a customer attribute"),
        ("attribute", {"attribute": "phone", "days": "0"}, "Days must be"),
        ("events_delete", {"event_type": "nope", "days": "30"}, "Choose an event type"),
        ("wipe", {"days": "30"}, "Choose what the policy removes"),
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(
    world: World, kind: str, fields: dict[str, str], message: str
) -> None:
    client = Client()
    client.force_login(world.admin)
    url = reverse("retention:policy_create", kwargs={"token": world.project.token})
    response = client.post(url, {"kind": kind, "purpose": "Because", **fields})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not RetentionPolicy.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="retention.").exists()


def test_duplicate_policy_is_a_409(world: World) -> None:
    admin = factories.principal_of(world.admin, world.project)
    _policy(admin, "attribute", attribute="phone")
    client = Client()
    client.force_login(world.admin)
    url = reverse("retention:policy_create", kwargs={"token": world.project.token})
    response = client.post(
        url, {"kind": "attribute", "attribute": "phone", "days": "9", "purpose": "x"}
    )
    assert response.status_code == 409
    assert RetentionPolicy.objects.count() == 1


def test_a_pii_attribute_policy_needs_personal_data(world: World) -> None:
    steward = factories.make_member(world.project, "dora", roles=("Data manager",))
    client = Client()
    client.force_login(steward)
    url = reverse("retention:policy_create", kwargs={"token": world.project.token})
    refused = client.post(
        url, {"kind": "attribute", "attribute": "phone", "days": "30", "purpose": "x"}
    )
    assert refused.status_code == 403 and "phone" in refused.content.decode()
    allowed = client.post(
        url, {"kind": "attribute", "attribute": "city", "days": "30", "purpose": "x"}
    )
    assert allowed.status_code == 302
    page = client.get(reverse("retention:page", kwargs={"token": world.project.token}))
    assert page.status_code == 200
    assert '<option value="phone">' not in page.content.decode()


def test_page_shows_previews_to_data_managers_only(world: World, people: dict[str, Any]) -> None:
    _policy(people["admin"], "attribute", attribute="phone")
    url = reverse("retention:page", kwargs={"token": world.project.token})
    client = Client()
    client.force_login(world.admin)
    html = client.get(url).content.decode()
    assert 'data-preview-count="2"' in html and "Kept one year" in html
    for phone in OLD_PHONES:
        assert phone not in html
    marketer = Client()
    marketer.force_login(world.marketer)
    assert marketer.get(url).status_code == 403
    outsider = Client()
    outsider.force_login(world.outsider)
    assert outsider.get(url).status_code == 404


def test_enable_run_now_and_the_run_page(
    world: World, people: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    policy = _policy(people["admin"], "attribute", attribute="phone")
    client = Client()
    client.force_login(world.admin)
    token = world.project.token
    enable = reverse("retention:enable", kwargs={"token": token, "pk": policy.pk})
    assert client.post(enable, {"enabled": "1"}).status_code == 302
    assert RetentionPolicy.objects.get(pk=policy.pk).enabled
    assert AuditEvent.objects.filter(action="retention.policy_enable").count() == 1
    run_now = reverse("retention:run_now", kwargs={"token": token, "pk": policy.pk})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(run_now)
    assert response.status_code == 302
    run = RetentionRun.objects.get()
    assert response["Location"].endswith(f"/retention/runs/{run.public_id}/")
    assert (run.status, run.done) == ("done", 2)  # eager: the run finished in the request
    page = client.get(response["Location"]).content.decode()
    assert "2 of 2" in page and "Done" in page
    assert run.started_at is not None and run.finished_at is not None


def test_a_customer_policy_limited_to_a_saved_segment(world: World, people: dict[str, Any]) -> None:
    from customers.filters import CustomerFilter
    from segments.services import segment_save

    admin = people["admin"]
    first = people["inactive"][0]
    Customer.objects.filter(pk=first.pk).update(
        properties={**first.properties, "plan": "gold"}, updated_at=LONG_AGO
    )
    segment = segment_save(
        actor=admin, name="Gold", customer_filter=CustomerFilter.from_string("c=plan:equals:gold")
    )
    policy = _policy(admin, "attribute", attribute="phone", segment=str(segment.public_id))
    assert services.retention_preview(admin, policy).count == 1
    # Changing the segment afterwards does not widen the run that started.
    run = services.retention_run_start(
        actor=admin, policy_pk=policy.pk, trigger="manual", start=False
    )
    type(segment).objects.filter(pk=segment.pk).update(definition={})
    finished = services.retention_run_all(run_id=run.pk)
    assert (finished.total, finished.done) == (1, 1)
    assert "phone" not in Customer.objects.get(pk=first.pk).properties
    assert "phone" in Customer.objects.get(pk=people["inactive"][1].pk).properties


def test_a_segment_on_pii_is_refused_to_a_policy_author_without_personal_data(
    world: World,
) -> None:
    from access.errors import PiiFieldRefused
    from customers.filters import CustomerFilter
    from segments.services import segment_save

    admin = factories.principal_of(world.admin, world.project)
    segment = segment_save(
        actor=admin,
        name="By e-mail",
        customer_filter=CustomerFilter.from_string("c=email:contains:canary"),
    )
    steward = factories.principal_of(
        factories.make_member(world.project, "dora", roles=("Data manager",)), world.project
    )
    with pytest.raises(PiiFieldRefused):
        _policy(steward, "attribute", attribute="city", segment=str(segment.public_id))
    assert not RetentionPolicy.objects.exists()


def test_counts_of_a_pii_policy_are_not_shown_to_a_data_manager_without_personal_data(
    world: World, people: dict[str, Any]
) -> None:
    _run(people["admin"], _policy(people["admin"], "attribute", attribute="phone"))
    steward = factories.make_member(world.project, "dora", roles=("Data manager",))
    client = Client()
    client.force_login(steward)
    html = client.get(reverse("retention:page", kwargs={"token": world.project.token})).content
    text = html.decode()
    assert 'data-preview-count=""' in text and "needs the Personal data permission" in text
    assert "2 / 2" not in text
    run = RetentionRun.objects.get()
    page = client.get(
        reverse("retention:run", kwargs={"token": world.project.token, "run_id": run.public_id})
    ).content.decode()
    assert "counts need the Personal data permission" in page and "2 of 2" not in page
    admin = Client()
    admin.force_login(world.admin)
    assert (
        "2 / 2"
        in admin.get(
            reverse("retention:page", kwargs={"token": world.project.token})
        ).content.decode()
    )
