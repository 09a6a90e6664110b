"""Every object reached by id is checked against the project and the principal.

Generic over the URL resolver: every route with an id parameter (int or uuid, besides the
project token) is requested by a member of project A — the admin, who may do everything
there — with the ids of project B's objects (customers, events, jobs, API keys, roles,
members, audit events, catalog entries: whatever the route's id means). Each answer must be
404 — never 200, never a 403 that would confirm the object exists — and project B's data
must be unchanged afterwards, whatever the method.

So that an id of B never happens to be a valid id of A for another table, B's objects are
created after every id sequence was moved far past A's.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.test import Client, override_settings

from access.models import Project
from access.permissions import Perm
from access.services import role_create
from customers.models import Customer, Event
from tests import factories
from tests.conftest import World

from .conftest import signed_in
from .crawler import Route, iter_routes

pytestmark = pytest.mark.django_db

FOREIGN_ID_FLOOR = 900_000
APPS = ("access", "datamanager", "customers")
METHODS = ("get", "post", "put", "patch", "delete")


def _bump_sequences() -> int:
    """Make every table of ours (and users/groups) hand out ids above a floor that no existing
    row reaches; returns the floor. (PostgreSQL sequences survive a test's rollback, so the
    floor moves up with what earlier tests consumed.)"""
    tables = [m._meta.db_table for m in _models()] + ["auth_user", "auth_group"]
    with connection.cursor() as cursor:
        highest = 0
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT last_value FROM pg_sequences WHERE sequencename = %s",
                    [f"{table}_id_seq"],
                )
                row = cursor.fetchone()
                highest = max(highest, int(row[0] or 0) if row else 0)
            cursor.execute(f'SELECT MAX(id) FROM "{table}"')  # noqa: S608 - our table names
            highest = max(highest, int(cursor.fetchone()[0] or 0))
        floor = max(FOREIGN_ID_FLOOR, highest + 100_000)
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, floor]
                )
            elif connection.vendor == "sqlite":
                cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
                cursor.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, floor]
                )
    return floor


def _models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models()
        if m._meta.app_label in APPS
        and isinstance(m._meta.pk, models.AutoField | models.BigAutoField)
    ]


def _project_path(model: type[models.Model]) -> str | None:
    """How a row of ``model`` names its project (``project``, ``event_type__project``, ...)."""
    names = {f.name: f for f in model._meta.get_fields()}
    if "project" in names:
        return "project"
    for field in model._meta.get_fields():
        if isinstance(field, models.ForeignKey) and field.related_model is not None:
            related = {f.name for f in field.related_model._meta.get_fields()}
            if "project" in related:
                return f"{field.name}__project"
    return None


def _foreign_ids(project: Project, floor: int) -> tuple[list[int], list[uuid.UUID]]:
    """The int and uuid ids of every object of ``project`` (only ids past the floor)."""
    ints: set[int] = set()
    uuids: set[uuid.UUID] = {project.token}
    for model in _models():
        path = _project_path(model)
        if path is None:
            continue
        rows = model._default_manager.filter(**{path: project})
        ints.update(pk for pk in rows.values_list("pk", flat=True) if pk > floor)
        for field in model._meta.fields:
            if isinstance(field, models.UUIDField):
                uuids.update(rows.values_list(field.name, flat=True))
    users = get_user_model().objects.filter(memberships__project=project)
    ints.update(pk for pk in users.values_list("pk", flat=True) if pk > floor)
    return sorted(ints), sorted(uuids, key=str)


def _snapshot(project: Project) -> str:
    """Everything project B holds, as text: any change by A's requests shows up here."""
    parts = []
    for model in _models():
        path = _project_path(model)
        if path is None:
            continue
        rows = list(model._default_manager.filter(**{path: project}).order_by("pk").values())
        parts.append(f"{model.__name__}: {json.dumps(rows, default=str, sort_keys=True)}")
    return "\n".join(parts)


@pytest.fixture
def foreign(world: World) -> dict[str, Any]:
    """A well-stocked project B whose every id is past A's, with its own admin."""
    floor = _bump_sequences()
    other = factories.make_project("Foreign shop")
    factories.make_member(other, "foreign-admin", roles=("Admin",))
    factories.make_member(other, "foreign-viewer", roles=("Viewer",))
    actor = factories.system(other)
    role_create(actor=actor, name="Foreign custom", permissions=[Perm.VIEW_CUSTOMERS])
    factories.make_key(other, "track", "read_customers", name="Foreign key")
    for i in range(3):
        factories.track_customer(
            other,
            {"registered": f"foreign-{i}@example.org"},
            {"plan": "free"},
            [("purchase", {"total": i})],
        )
    try:
        from customers.services.anonymization_jobs import anonymization_job_create

        anonymization_job_create(
            actor=actor,
            source="cli",
            customers=list(Customer.objects.filter(project=other).values_list("pk", flat=True)),
            start=False,
        )
    except ImportError:
        pass
    assert Event.objects.filter(project=other, pk__gt=floor).exists()
    ints, uuids = _foreign_ids(other, floor)
    return {"project": other, "ints": ints, "uuids": uuids}


def _id_routes() -> list[Route]:
    return [
        r
        for r in iter_routes()
        if r.route.startswith(("projects/", "track/", "data/"))
        and any(n != "token" and c in {"int", "uuid", "str", "slug"} for c, n in r.params)
    ]


def _values_for(
    route: Route, token: Any, ints: list[int], uuids: list[uuid.UUID]
) -> list[dict[str, Any]]:
    choices = []
    names = []
    for conv, name in route.params:
        names.append(name)
        if name == "token":
            choices.append([token])
        elif conv == "uuid":
            choices.append(uuids)
        elif conv == "int":
            choices.append(ints)
        else:  # str ids (API bulk ids, key ids) may carry either kind
            choices.append([*map(str, uuids), *map(str, ints)])
    combos = itertools.islice(itertools.product(*choices), 400)
    return [dict(zip(names, combo, strict=True)) for combo in combos]


def _request(client: Client, method: str, url: str, basic: str | None = None) -> int:
    extra: dict[str, Any] = {"HTTP_AUTHORIZATION": basic} if basic else {}
    if method == "get":
        return int(client.generic("GET", url, **extra).status_code)
    return getattr(client, method)(
        url, data="{}", content_type="application/json", **extra
    ).status_code


def _page_failures(world: World, foreign: dict[str, Any]) -> tuple[int, list[str]]:
    """Request every page route with B's ids as A's admin; (requests made, non-404 answers)."""
    client = signed_in(world.admin)
    checked, wrong = 0, []
    for route in _id_routes():
        if route.route.startswith(("track/", "data/")):
            continue
        for values in _values_for(route, world.project.token, foreign["ints"], foreign["uuids"]):
            url = route.build(values)
            for method in sorted(route.allowed_methods() & set(METHODS)):
                status = _request(client, method, url)
                checked += 1
                if status not in {404, 405}:
                    wrong.append(f"{method.upper()} {url} -> {status}")
    return checked, wrong


def test_pages_answer_404_for_another_projects_objects(
    world: World, foreign: dict[str, Any]
) -> None:
    before = _snapshot(foreign["project"])
    checked, wrong = _page_failures(world, foreign)
    assert wrong == []
    assert _snapshot(foreign["project"]) == before
    if not checked:
        pytest.skip("no page takes an object id yet")


def test_the_walk_catches_a_planted_unscoped_page(world: World, foreign: dict[str, Any]) -> None:
    """A page that fetches a customer by id without checking the project must be caught."""
    with override_settings(ROOT_URLCONF="tests.security.planted_urls"):
        _, wrong = _page_failures(world, foreign)
    assert any("/planted/" in w and w.endswith("-> 200") for w in wrong), wrong


def test_api_answers_404_for_another_projects_objects(
    world: World, foreign: dict[str, Any]
) -> None:
    client = Client()
    before = _snapshot(foreign["project"])
    wrong = []
    checked = 0
    for route in _id_routes():
        if not route.route.startswith(("track/", "data/")):
            continue
        for values in _values_for(route, world.project.token, foreign["ints"], foreign["uuids"]):
            url = route.build(values)
            for method in sorted(route.allowed_methods() & set(METHODS)):
                status = _request(client, method, url, world.full_key.basic)
                checked += 1
                if status not in {400, 404, 405}:
                    wrong.append(f"{method.upper()} {url} -> {status}")
    assert wrong == []
    assert _snapshot(foreign["project"]) == before
    if not checked:
        pytest.skip("no API endpoint takes an object id yet")


def test_foreign_project_token_is_404_for_pages_and_api(
    world: World, foreign: dict[str, Any]
) -> None:
    """A's admin names B's project: 404 on every page, 401/404 on every API endpoint."""
    client = signed_in(world.admin)
    api = Client()
    wrong = []
    for route in iter_routes():
        if not route.route.startswith(("projects/", "track/", "data/")):
            continue
        if [n for _, n in route.params] != ["token"]:
            continue
        url = route.build({"token": foreign["project"].token})
        if route.route.startswith(("track/", "data/")):
            method = "get" if "get" in route.allowed_methods() else "post"
            status = _request(api, method, url, world.full_key.basic)
            if status not in {401, 404}:
                wrong.append(f"API {url} -> {status}")
        elif "get" in route.allowed_methods():
            status = client.get(url).status_code
            if status != 404:
                wrong.append(f"{url} -> {status}")
    assert wrong == []


def test_ids_of_the_same_project_still_work(world: World, foreign: dict[str, Any]) -> None:
    """The 404s above are not a broken page: A's own customer profile opens (when it exists)."""
    profile = [
        r
        for r in _id_routes()
        if r.route.startswith("projects/")
        and "get" in r.allowed_methods()
        and [c for c, n in r.params if n != "token"] == ["int"]
    ]
    client = signed_in(world.admin)
    own = world.customer.pk
    statuses = {
        r.route: client.get(
            r.build({n: (world.project.token if n == "token" else own) for _, n in r.params})
        ).status_code
        for r in profile
    }
    if not statuses:
        pytest.skip("no page takes an object id yet")
    assert 200 in statuses.values(), statuses
