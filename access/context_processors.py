"""Navigation for the base layout: the project switcher and the pages the user may open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from .permissions import Perm
from .selectors import projects_for_user

# (label, url name, permission needed); pages are shown only to principals holding it.
NAV_ITEMS: list[tuple[str, str, Perm]] = [
    ("Customers", "customers:list", Perm.VIEW_CUSTOMERS),
    ("Data manager", "datamanager:catalog", Perm.VIEW_CUSTOMERS),
    ("Consents", "consents:categories", Perm.VIEW_CUSTOMERS),
    ("Retention", "retention:page", Perm.MANAGE_DATA),
    ("Anonymization jobs", "customers:jobs", Perm.ANONYMIZE_CUSTOMERS),
]
SETTINGS_ITEMS: list[tuple[str, str, Perm]] = [
    ("Access management", "access:team", Perm.MANAGE_ACCESS),
    ("API", "access:api_keys", Perm.MANAGE_ACCESS),
    ("Audit log", "access:audit", Perm.MANAGE_ACCESS),
    ("Access log", "accountability:log", Perm.VIEW_ACCESS_LOG),
    ("Temporary reveals", "accountability:reveals", Perm.VIEW_ACCESS_LOG),
    ("Access review", "accountability:review", Perm.MANAGE_ACCESS),
    ("Privacy overview", "accountability:overview", Perm.VIEW_ACCESS_LOG),
]
# A number beside a Settings link (e.g. recent temporary reveals), registered by the app
# that owns the page in its AppConfig.ready(), so this module imports none of them:
# url name -> function(principal) -> count.
NAV_COUNTERS: dict[str, Callable[[Any], int]] = {}


def _links(
    items: list[tuple[str, str, Perm]], principal: Any, token: str, path: str
) -> list[dict[str, Any]]:
    links = []
    for label, name, perm in items:
        if not principal.has(perm):
            continue
        try:
            url = reverse(name, kwargs={"token": token})
        except NoReverseMatch:
            continue  # a page not built yet
        counter = NAV_COUNTERS.get(name)
        count = counter(principal) if counter is not None else 0
        links.append({"label": label, "url": url, "active": path.startswith(url), "count": count})
    # Nested pages (customers/jobs/ under customers/): only the most specific link is active.
    active = [link for link in links if link["active"]]
    if active:
        deepest = max((str(a["url"]) for a in active), key=len)
        for link in active:
            link["active"] = link["url"] == deepest
    return links


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    context: dict[str, Any] = {"nav_projects": projects_for_user(user).only("token", "name")}
    principal = getattr(request, "principal", None)
    if principal is not None:
        token = str(principal.project.token)
        context["nav_project"] = principal.project
        context["nav_links"] = _links(NAV_ITEMS, principal, token, request.path)
        context["nav_settings"] = _links(SETTINGS_ITEMS, principal, token, request.path)
        context["nav_settings_count"] = sum(link["count"] for link in context["nav_settings"])
    return context
