"""The permission matrix: every project URL, as every kind of caller, answers as it must.

Built from the URL configuration (``get_resolver()``), not a hand-kept list, so a URL added
tomorrow is tested tomorrow. For each URL under ``/projects/<token>/`` (pages) and under the
API prefixes, the needed permission is read from the view class itself:
``ProjectViewMixin.permission_required`` for pages, ``ProjectAPIView.required_permission``
for the API. A view that is neither escapes the project permission check and fails here.

Callers and what they must get:

=================  ===============================  ===================================
caller             page (HTML)                      API (JSON)
=================  ===============================  ===================================
anonymous          302 to the login page            401, Exponea's ``{"success": false,
                                                    "error": ...}``
lacks permission   403 (a member holding every      403 (a key holding every other
                   other permission)                permission)
other project      404 (an admin of another         404 (a full key of another project)
                   project)
permitted          200, a documented redirect,      GET 200; POST ``{}`` neither refused
                   or 405 for a POST-only page      nor a server error
=================  ===============================  ===================================

Also, every GET URL naming an object by id is requested by a permitted caller with the id of
an object of *another* project: it must answer 404, exactly as for a missing object.

URL kwargs other than ``token`` are filled from objects made in the fixture, by kwarg name
(``KWARG_VALUES``); an unknown kwarg name fails loudly, so whoever adds such a URL adds its
factory here and the URL is covered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern
from django.utils import timezone

from access.api.base import ProjectAPIView
from access.models import Project
from access.permissions import API_KEY_PERMISSIONS, Perm
from access.services import member_add, role_create
from access.views_base import ProjectViewMixin
from accountability.models import RevealStatus, TemporaryReveal
from consents.models import ConsentCategory
from customers.models import AnonymizationJob, Customer, ErasureReceipt
from retention.models import RetentionPolicy, RetentionRun
from segments.models import Segment
from tests import factories
from tests.conftest import World

pytestmark = pytest.mark.django_db

# Top-level prefixes of URLs that belong to one project.
PAGE_PREFIX = "projects/"
API_PREFIXES = ("track/", "data/")

# Pages whose permitted GET answers with a redirect, and why.
# GET API routes whose required query the matrix supplies (else a correct 400).
API_QUERIES: dict[str, Callable[[Objects], str]] = {
    "api-customer-access-history": lambda o: f"?customer_ids={o.customer.pk}",
}

DOCUMENTED_REDIRECTS: dict[str, str] = {
    "access:project": "the project home sends the user on to the customer list",
    "customers:anonymize_bulk": "the confirmation is reached by POST from the list; GET goes back",
}

# Methods a view may declare that the matrix does not exercise.
IGNORED_METHODS = {"options", "head", "trace"}


@dataclass(frozen=True)
class Route:
    """One URL pattern, flattened: its full route, its view and its name."""

    route: str
    callback: Callable[..., Any]
    name: str

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    @property
    def kind(self) -> str:
        return "page" if self.route.startswith(PAGE_PREFIX) else "api"

    @property
    def kwargs(self) -> list[tuple[str, str]]:
        """(converter, name) of each URL kwarg, in order."""
        return [(m.group("conv") or "str", m.group("name")) for m in KWARG_RE.finditer(self.route)]

    @property
    def methods(self) -> list[str]:
        actions = getattr(self.callback, "actions", None)  # DRF viewsets
        if actions:
            return sorted(actions)
        cls = self.view_class
        assert cls is not None
        return [
            m
            for m in cls.http_method_names  # type: ignore[attr-defined]
            if m not in IGNORED_METHODS and hasattr(cls, m)
        ]


KWARG_RE = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            # A regex route cannot be filled generically; the project URLs use path().
            route = prefix + "<regex>" + entry.pattern.regex.pattern
        else:
            route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, route, ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
            yield Route(route=route, callback=entry.callback, name=name)


# The API's catch-all answers (unknown paths, out-of-scope areas) serve no project data and
# hold no permission: they answer the same JSON error to anyone. They are tested in
# tests/api/test_exponea_fidelity.py; the matrix walks the endpoints that do have data.
FALLBACK_MODULE = "access.api.fallback_views"


def project_routes() -> list[Route]:
    """Every URL that belongs to a project, from the live URL configuration."""
    return [
        r
        for r in _walk(get_resolver().url_patterns)
        if (r.route.startswith(PAGE_PREFIX) or r.route.startswith(API_PREFIXES))
        and getattr(r.callback, "__module__", "") != FALLBACK_MODULE
    ]


ROUTES = project_routes()


# ---------------------------------------------------------------------------
# Objects to fill URL kwargs with
# ---------------------------------------------------------------------------


@dataclass
class Objects:
    """What the URL kwargs of one project point at."""

    project: Project
    customer: Customer
    job: AnonymizationJob
    member: Any
    custom_role: Any
    api_key: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _by_converter(conv: str, pk: int, uuid_value: Any = None) -> str:
    if conv == "uuid" or (conv == "str" and uuid_value is not None):
        return str(uuid_value)
    return str(pk)


# kwarg name -> value in the URL, given the converter and the objects of the project.
KWARG_VALUES: dict[str, Callable[[str, Objects], str]] = {
    "token": lambda conv, o: str(o.project.token),
    "user_id": lambda conv, o: str(o.member.pk),
    "role_id": lambda conv, o: str(o.custom_role.pk),
    "api_key_id": lambda conv, o: str(o.api_key.pk),
    "pk": lambda conv, o: str(o.customer.pk),
    "customer_id": lambda conv, o: str(o.customer.pk),
    "customer_pk": lambda conv, o: str(o.customer.pk),
    "job_id": lambda conv, o: _by_converter(conv, o.job.pk, o.job.public_id),
    "job_pk": lambda conv, o: str(o.job.pk),
    "bulk_id": lambda conv, o: str(o.job.public_id),
    "public_id": lambda conv, o: str(o.job.public_id),
    "receipt_id": lambda conv, o: str(o.extra["receipt"].public_id),
    "run_id": lambda conv, o: str(o.extra["retention_run"].public_id),
    "segment_id": lambda conv, o: str(o.extra["segment"].public_id),
    "event_type": lambda conv, o: "purchase",
    "event_type_name": lambda conv, o: "purchase",
    "attribute": lambda conv, o: "email",
    "attribute_name": lambda conv, o: "email",
    "name": lambda conv, o: "email",
    "event_type_id": lambda conv, o: str(o.extra["event_type"].pk),
    "attribute_id": lambda conv, o: str(o.extra["customer_attribute"].pk),
    "event_attribute_id": lambda conv, o: str(o.extra["event_attribute"].pk),
    "reveal_id": lambda conv, o: str(o.extra["reveal"].pk),
    "category_id": lambda conv, o: str(o.extra["consent_category"].pk),
}


def fill(route: Route, objects: Objects) -> str:
    """The route with every kwarg filled; fails loudly on a kwarg the matrix does not know."""
    if "<regex>" in route.route:
        pytest.fail(f"{route.route} is a regex route: use path() so the matrix can fill it.")

    def replace(match: re.Match[str]) -> str:
        conv, name = match.group("conv") or "str", match.group("name")
        if name not in KWARG_VALUES:
            pytest.fail(
                f"URL {route.name or route.route} has the kwarg '{name}' the permission matrix "
                f"does not know: add a factory for it to KWARG_VALUES in {__file__}."
            )
        return KWARG_VALUES[name](conv, objects)

    return "/" + KWARG_RE.sub(replace, route.route)


def build_objects(project: Project, customer: Customer, member: Any, api_key: Any) -> Objects:
    """A custom role, a job and catalog entries in ``project``, next to the given objects."""
    from datamanager.models import CustomerAttribute, EventAttribute, EventType

    system = factories.system(project)
    role = role_create(actor=system, name="Matrix custom", permissions=[Perm.VIEW_CUSTOMERS])
    job = AnonymizationJob.objects.create(
        project=project, requested_by_label="tests", source="app", total=1
    )
    event_type = EventType.objects.filter(project=project, name="purchase").first()
    extra: dict[str, Any] = {
        "event_type": event_type,
        "customer_attribute": CustomerAttribute.objects.filter(
            project=project, name="email"
        ).first(),
        "event_attribute": EventAttribute.objects.filter(event_type=event_type).first(),
        "receipt": ErasureReceipt.objects.create(
            project=project,
            customer=customer,
            job=job,
            source="app",
            actor_label="tests",
            created_at=timezone.now(),
        ),
        # A saved segment (segments/).
        "segment": Segment.objects.create(
            project=project,
            name="Premium",
            definition={"conditions": [{"attribute": "plan", "operator": "equals", "value": "x"}]},
            created_by_label="tests",
        ),
        # A finished run of a retention policy (retention/).
        "retention_run": RetentionRun.objects.create(
            project=project,
            policy=RetentionPolicy.objects.create(
                project=project, kind="anonymize", days=30, purpose="tests", created_by_label="t"
            ),
            kind="anonymize",
            days=30,
            cutoff=timezone.now(),
            trigger="manual",
            requested_by_label="tests",
            status="done",
        ),
        # A consent category (consents/).
        "consent_category": ConsentCategory.objects.create(project=project, name="newsletter"),
        # A temporary reveal request of the member (accountability/), waiting for approval.
        "reveal": TemporaryReveal.objects.create(
            project=project,
            customer_id=customer.pk,
            user=member,
            user_label=member.get_username(),
            reason="The matrix asks for a reveal of this customer.",
            minutes=15,
            status=RevealStatus.PENDING,
            requested_at=timezone.now(),
        ),
    }
    return Objects(
        project=project,
        customer=customer,
        job=job,
        member=member,
        custom_role=role,
        api_key=api_key,
        extra=extra,
    )


@pytest.fixture
def objects(world: World) -> Objects:
    return build_objects(world.project, world.customer, world.marketer, world.masked_key.key)


@pytest.fixture
def foreign_objects(world: World) -> Objects:
    """The same kinds of objects, in the other project."""
    other = world.other_project
    customer = factories.track_customer(
        other,
        {"registered": "foreign@other.test"},
        {"email": "foreign@other.test"},
        [("purchase", {"total": 1})],
    )
    key = factories.make_key(other, "read_customers", name="Foreign").key
    return build_objects(other, customer, world.outsider, key)


def member_without(project: Project, perm: Perm) -> Any:
    """A member holding every project permission except ``perm`` (so only ``perm`` is missing)."""
    system = factories.system(project)
    role = role_create(
        actor=system,
        name=f"All but {perm.value}",
        permissions=[p for p in Perm if p not in (perm, Perm.TRACK)],
    )
    user = get_user_model().objects.create_user(username=f"no-{perm.value}")
    member_add(actor=system, user=user, roles=[role])
    return user


# ---------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------


def _route_id(route: Route) -> str:
    return route.name or route.route


def test_the_matrix_sees_the_urls_it_must_cover() -> None:
    """Guards the walker itself: it finds nested, namespaced project pages."""
    names = {r.name for r in ROUTES}
    assert {"access:team", "access:roles", "access:api_keys", "access:audit"} <= names
    team = next(r for r in ROUTES if r.name == "access:team")
    assert "/" + team.route.replace("<uuid:token>", "T") == reverse(
        "access:team", kwargs={"token": "00000000-0000-0000-0000-000000000000"}
    ).replace("00000000-0000-0000-0000-000000000000", "T")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.kind == "page"], ids=_route_id)
def test_page_permissions(route: Route, world: World, objects: Objects) -> None:
    view_class = route.view_class
    if view_class is None or not issubclass(view_class, ProjectViewMixin):
        pytest.fail(
            f"{_route_id(route)} is a project page whose view does not use ProjectViewMixin: "
            "it escapes the membership and permission check."
        )
    needed: Perm | None = view_class.permission_required
    url = fill(route, objects)
    method = "get"
    failures: list[str] = []

    def check(caller: str, user: Any, expected: set[int]) -> Any:
        client = Client()
        if user is not None:
            client.force_login(user)
        response = getattr(client, method)(url)
        if response.status_code not in expected:
            failures.append(f"{caller}: GET {url} -> {response.status_code}, want {expected}")
        return response

    response = check("anonymous", None, {302})
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("login")), response["Location"]
    check("member of another project", world.outsider, {404})
    if needed is not None:
        check(f"member without {needed.value}", member_without(world.project, needed), {403})
    if "get" in route.methods:
        allowed = {200, 302} if route.name in DOCUMENTED_REDIRECTS else {200}
    else:
        allowed = {405}
    response = check("permitted member", world.admin, allowed)
    if response.status_code == 302:
        assert response["Location"].startswith(f"/projects/{world.project.token}/")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.kind == "api"], ids=_route_id)
def test_api_permissions(route: Route, world: World, objects: Objects) -> None:
    view_class = route.view_class
    if view_class is None or not issubclass(view_class, ProjectAPIView):
        pytest.fail(
            f"{_route_id(route)} is a project API path whose view is not a ProjectAPIView: "
            "it escapes the API key and project check."
        )
    needed: Perm | None = view_class.required_permission
    url = fill(route, objects)
    method = "get" if "get" in route.methods else route.methods[0]
    if method == "get" and route.name in API_QUERIES:
        url += API_QUERIES[route.name](objects)
    failures: list[str] = []

    def call(caller: str, basic: str | None) -> Any:
        headers = {"authorization": basic} if basic else {}
        client = Client()
        if method == "get":
            return client.get(url, headers=headers)
        return getattr(client, method)(
            url, data=json.dumps({}), content_type="application/json", headers=headers
        )

    def expect(caller: str, response: Any, statuses: set[int], shape: str | None) -> None:
        if response.status_code not in statuses:
            failures.append(f"{caller}: {method.upper()} {url} -> {response.status_code}")
            return
        if shape is not None:
            body = json.loads(b"".join(getattr(response, "streaming_content", [response.content])))
            if body.get("success") is not False or shape not in body:
                failures.append(f"{caller}: body not in Exponea's error shape: {body}")

    expect("anonymous", call("anonymous", None), {401}, "error")
    foreign = factories.make_key(world.other_project, *API_KEY_PERMISSIONS, name="Foreign")
    expect("key of another project", call("foreign", foreign.basic), {404}, "errors")
    if needed is not None:
        names = [n for n, p in API_KEY_PERMISSIONS.items() if p != needed]
        lacking = factories.make_key(world.project, *names, name=f"No {needed.value}")
        expect(f"key without {needed.value}", call("lacking", lacking.basic), {403}, "errors")
    response = call("permitted", world.full_key.basic)
    if method == "get":
        expect("permitted key", response, {200}, None)
    elif response.status_code in {401, 403, 404, 405} or response.status_code >= 500:
        failures.append(f"permitted key: {method.upper()} {url} -> {response.status_code}")
    assert not failures, "\n".join(failures)


def test_an_unknown_url_kwarg_fails_loudly(objects: Objects) -> None:
    """A new URL with a kwarg the matrix cannot fill must fail, not be skipped."""
    route = Route(route="projects/<uuid:token>/things/<int:thing_id>/", callback=print, name="x")
    with pytest.raises(pytest.fail.Exception, match="thing_id"):
        fill(route, objects)
    known = Route(
        route="projects/<uuid:token>/settings/roles/<int:role_id>/", callback=print, name=""
    )
    assert fill(known, objects) == (
        f"/projects/{objects.project.token}/settings/roles/{objects.custom_role.pk}/"
    )


# Kwargs naming one object by its id: another project's id must answer 404, not the object.
ID_KWARGS = set(KWARG_VALUES) - {
    "token",
    "event_type",
    "event_type_name",
    "attribute",
    "attribute_name",
    "name",
}


def fill_foreign(route: Route, objects: Objects, foreign: Objects) -> str:
    """The route in ``objects``' project, with every id kwarg pointing into ``foreign``."""

    def replace(match: re.Match[str]) -> str:
        conv, name = match.group("conv") or "str", match.group("name")
        source = foreign if name in ID_KWARGS else objects
        return KWARG_VALUES[name](conv, source)

    fill(route, objects)  # fails loudly on unknown kwargs first
    return "/" + KWARG_RE.sub(replace, route.route)


FOREIGN_ROUTES = [
    r
    for r in ROUTES
    if "get" in r.methods
    and "<regex>" not in r.route
    and any(name in ID_KWARGS for _conv, name in r.kwargs)
]


@pytest.mark.parametrize("route", FOREIGN_ROUTES, ids=_route_id)
def test_another_projects_object_answers_404(
    route: Route, world: World, objects: Objects, foreign_objects: Objects
) -> None:
    """A permitted caller naming another project's object by id gets 404, as for a missing one."""
    url = fill_foreign(route, objects, foreign_objects)
    if route.kind == "page":
        client = Client()
        client.force_login(world.admin)
        response = client.get(url)
    else:
        response = Client().get(url, headers={"authorization": world.full_key.basic})
    assert response.status_code == 404, f"GET {url} -> {response.status_code}"
