"""After anonymizing the demo's customers, no table holds a former e-mail address or phone.

Every path runs first (single API, bulk API job, profile button, bulk job from the filter,
command line), so whatever they write (jobs, job items, audit log, events, Celery
messages) is in the database when it is searched: every table, every column, as text.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from access.models import ApiKey, Project
from access.selectors import principal_for_system
from customers.models import AnonymizationJob, Customer, CustomerId, ErasureReceipt, Event
from customers.services import customer_update, event_track
from customers.tasks import anonymization_job_run
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def every_row_as_text() -> dict[str, str]:
    """Each table of the database, all of its rows and columns rendered as text."""
    dump: dict[str, str] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            dump[table] = "\n".join(repr(row) for row in cursor.fetchall())
    return dump


def test_demo_customers_leave_no_trace(client: Any, monkeypatch: Any) -> None:
    sent: list[tuple[Any, ...]] = []
    original = anonymization_job_run.delay

    def record(*args: Any, **kwargs: Any) -> Any:
        sent.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(anonymization_job_run, "delay", record)

    out = io.StringIO()
    call_command("seed_demo", "--customers", "24", "--json", stdout=out)
    demo = json.loads(out.getvalue())
    project = Project.objects.get(token=demo["project_token"])
    customers = list(Customer.objects.filter(project=project).order_by("pk"))
    assert len(customers) == 24
    emails = sorted(
        set(
            CustomerId.objects.filter(project=project, name="registered").values_list(
                "value", flat=True
            )
        )
        | {c.properties["email"] for c in customers}
    )
    phones = sorted({c.properties["phone"] for c in customers})
    needles = emails + phones
    assert len(emails) == 24 and len(phones) >= 20

    # Leftovers (issue 17): the removed values copied into what stays, a non-PII note and
    # a page_visit url of the same customer; the anonymization must clear them too.
    planter = principal_for_system(project, label="tests")
    for customer in customers[:6]:
        email, phone = customer.properties["email"], customer.properties["phone"]
        ids = {"registered": CustomerId.objects.get(customer=customer, name="registered").value}
        customer_update(actor=planter, ids=ids, properties={"note": f"Called {phone} today"})
        event_track(
            actor=planter,
            ids=ids,
            event_type="page_visit",
            properties={"url": f"https://shop.example.com/unsubscribe?e={email}"},
        )

    # The search finds them before: otherwise it would prove nothing.
    before = "\n".join(every_row_as_text().values())
    assert all(needle in before for needle in needles)

    key = ApiKey.objects.get(project=project, name="Demo full access")
    secret = next(k["secret"] for k in demo["api_keys"] if k["name"] == key.name)
    auth = factories.KeyCredentials(key=key, secret=secret).basic
    base = f"/data/v2/projects/{project.token}/customers/"

    # 1. Single API, by e-mail.
    response = client.post(
        base + "anonymize",
        data=json.dumps({"customer_ids": {"registered": emails[0]}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200
    # 2. Bulk API with e-mails (a job), including one that names nobody.
    entries = [{"customer_ids": {"registered": e}} for e in emails[1:8]]
    entries.append({"customer_ids": {"registered": "nobody.at.all@example.com"}})
    response = client.post(
        base + "anonymize_bulk",
        data=json.dumps({"customers": entries}),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200
    # 3. The profile button and 4. a bulk job from the filter, as the demo admin.
    admin = project.memberships.get(user__username="admin").user
    client.force_login(admin)
    remaining = Customer.objects.filter(project=project, anonymized_at__isnull=True).order_by("pk")
    one = remaining.first()
    assert one is not None
    client.post(reverse("customers:anonymize", kwargs={"token": project.token, "pk": one.pk}))
    some = list(remaining.values_list("pk", flat=True)[:5])
    bulk = reverse("customers:anonymize_bulk", kwargs={"token": project.token})
    client.post(bulk, {"customer": some, "filter": "", "confirm": "1"})
    # 5. The command line, for everyone left.
    call_command(
        "anonymize_customers", "--project", str(project.token), "--filter", "", "--yes",
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip

    assert not Customer.objects.filter(project=project, anonymized_at__isnull=True).exists()
    assert Event.objects.filter(project=project, event_type__name="anonymization").count() == 24
    assert {job.status for job in AnonymizationJob.objects.all()} == {"done"}
    assert {job.source for job in AnonymizationJob.objects.all()} == {"bulk_api", "app", "cli"}

    leftovers = ErasureReceipt.objects.filter(project=project).exclude(leftovers=[])
    assert leftovers.count() == 6
    assert all(r.leftovers_cleared for r in leftovers)
    assert {item["attribute"] for r in leftovers for item in r.leftovers} == {"note", "url"}

    after = every_row_as_text()
    leaks = {table: [n for n in needles if n in text] for table, text in after.items()}
    assert not {t: found for t, found in leaks.items() if found}
    assert "nobody.at.all@example.com" not in "\n".join(after.values())
    # Celery messages carried job ids only, and no result is stored anywhere.
    assert sent and all(
        all(isinstance(a, int) for a in args) and not kwargs for args, kwargs in sent
    )
    assert not getattr(settings, "CELERY_RESULT_BACKEND", None)
    assert settings.CELERY_TASK_IGNORE_RESULT is True
