"""A bounded same-origin crawler for the leak hunt, and a walker over the URL resolver.

The crawler knows nothing about particular pages: it starts at a few URLs and follows what
a browser user could follow — links, ``data-*url`` endpoints that scripts fetch, GET forms
(submitted once with their defaults and once per option of each select), pagination and
export links — up to a bound per route and in total. Every response (body, headers,
cookies, redirect target) is kept, so a test can search all of it for canary values.

POST forms are never submitted: they change data (anonymize, unflag, revoke) and would
destroy the very canaries the hunt looks for; their targets are listed so tests can check
them separately.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

# Never fetched by the crawler: static files, Django's admin (superusers only, not the
# product) and the logout endpoint (it would end the crawl's session).
SKIP_PREFIXES = ("/static/", "/admin/", "/accounts/logout/")


@dataclass
class Form:
    method: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    # name -> option values, for the variants the crawler submits.
    selects: dict[str, list[str]] = field(default_factory=dict)
    has_csrf_token: bool = False
    # Raw attributes, for checks such as "no secret in a mutating form's action".
    page_url: str = ""


class _PageParser(HTMLParser):
    """Collects hrefs, script endpoints and forms (with their fields) from one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, list[str], str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        for name, value in a.items():
            # Endpoints a script fetches (progress polling, autocomplete, samples).
            if name.startswith("data-") and (name.endswith("url") or name.endswith("href")):
                self.links.append(value)
        if tag in {"a", "area"} and "href" in a:
            self.links.append(a["href"])
        elif tag == "iframe" and "src" in a:
            self.links.append(a["src"])
        elif tag == "form":
            self._form = Form(method=(a.get("method") or "get").lower(), action=a.get("action", ""))
            self.forms.append(self._form)
        elif self._form is not None and tag in {"input", "button", "textarea"}:
            field_name = a.get("name")
            if field_name == "csrfmiddlewaretoken":
                self._form.has_csrf_token = True
            if not field_name or tag == "button":
                return
            kind = a.get("type", "text").lower()
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            if kind in {"submit", "image", "reset", "file"}:
                return
            self._form.fields.append((field_name, a.get("value", "")))
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select = (a["name"], [], None)
        elif self._select is not None and tag == "option":
            name, options, chosen = self._select
            value = a.get("value", "")
            options.append(value)
            if "selected" in a and chosen is None:
                chosen = value
            self._select = (name, options, chosen)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None and self._form is not None:
            name, options, chosen = self._select
            if options:
                self._form.fields.append((name, chosen if chosen is not None else options[0]))
                self._form.selects[name] = options
            self._select = None
        elif tag == "form":
            self._form = None


def parse_page(html: str) -> tuple[list[str], list[Form]]:
    parser = _PageParser()
    parser.feed(html)
    return parser.links, parser.forms


@dataclass
class Fetched:
    """One response as the crawler saw it, flattened to text for searching."""

    method: str
    url: str
    status: int
    content_type: str
    headers: str
    body: str
    location: str = ""
    # What was sent (an API body): shown in failure messages, never searched.
    sent: str = ""

    def everything(self) -> str:
        return "\n".join([self.url, str(self.status), self.headers, self.location, self.body])


def response_text(response: Any) -> str:
    """The whole body of a response, streamed ones included (CSV exports stream)."""
    if getattr(response, "streaming", False):
        raw = b"".join(response.streaming_content)
    else:
        raw = response.content
    return raw.decode("utf-8", errors="replace")


def flatten_response(method: str, url: str, response: Any, sent: str = "") -> Fetched:
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    cookies = "\n".join(m.output() for m in response.cookies.values())
    return Fetched(
        method=method,
        url=url,
        status=response.status_code,
        content_type=response.get("Content-Type", ""),
        headers=headers + "\n" + cookies,
        body=response_text(response),
        location=response.get("Location", ""),
        sent=sent,
    )


def _route_of(path: str) -> str:
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return "<404>"
    return match.route or match.view_name


@dataclass
class Crawler:
    """Breadth-first crawl over same-origin GETs, bounded per route and in total."""

    client: Client
    max_requests: int = 300
    per_route: int = 6
    fetched: list[Fetched] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    # Paths some page linked to (as opposed to the start URLs typed in).
    linked: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set)
    _per_route: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def normalize(self, base: str, href: str) -> str | None:
        href = href.strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            return None
        parts = urlsplit(urljoin(base, href))
        if parts.scheme not in {"", "http", "https"} or parts.netloc not in {"", "testserver"}:
            return None
        if parts.path.startswith(SKIP_PREFIXES):
            return None
        return urlunsplit(("", "", parts.path, parts.query, ""))

    def _admit(self, url: str) -> bool:
        if url in self._seen or len(self._seen) >= self.max_requests:
            return False
        parts = urlsplit(url)
        # Bounded per route AND query shape, so sort variants cannot crowd out pagination.
        keys = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)})
        route = _route_of(parts.path) + "?" + ",".join(keys)
        if self._per_route[route] >= self.per_route:
            return False
        self._seen.add(url)
        self._per_route[route] += 1
        return True

    def _form_urls(self, base: str, form: Form) -> Iterator[str]:
        action = self.normalize(base, form.action or base)
        if action is None:
            return
        path = urlsplit(action).path
        yield f"{path}?{urlencode(form.fields)}"
        # One variant per option of each select: every offered field, operator and order.
        for name, options in form.selects.items():
            for option in options:
                fields = [(k, option if k == name else v) for k, v in form.fields]
                yield f"{path}?{urlencode(fields)}"

    def crawl(self, start: Iterable[str]) -> list[Fetched]:
        queue: list[str] = []
        for url in start:
            norm = self.normalize("/", url)
            if norm and self._admit(norm):
                queue.append(norm)
        while queue:
            url = queue.pop(0)
            response = self.client.get(url)
            got = flatten_response("GET", url, response)
            self.fetched.append(got)
            found: list[str] = []
            if got.location:
                found.append(got.location)
            if "html" in got.content_type:
                links, forms = parse_page(got.body)
                found.extend(links)
                for form in forms:
                    form.page_url = url
                    self.forms.append(form)
                    if form.method == "get":
                        found.extend(self._form_urls(url, form))
            for href in found:
                norm = self.normalize(url, href)
                if norm:
                    self.linked.add(urlsplit(norm).path)
                if norm and self._admit(norm):
                    queue.append(norm)
        return self.fetched


# The URL resolver, flattened ----------------------------------------------------------------

_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern with its full route string, e.g. ``projects/<uuid:token>/customers/``."""

    route: str
    pattern: URLPattern

    @property
    def params(self) -> list[tuple[str, str]]:
        """``[(converter, name), ...]`` of the route's parameters."""
        return [(m["conv"] or "str", m["name"]) for m in _PARAM.finditer(self.route)]

    @property
    def view_class(self) -> Any:
        callback = self.pattern.callback
        return getattr(callback, "view_class", None) or getattr(callback, "cls", None)

    def allowed_methods(self) -> set[str]:
        cls = self.view_class
        if cls is None:
            return {"get", "post"}
        names = set(getattr(cls, "http_method_names", ["get", "post"]))
        return {m for m in names if hasattr(cls, m) and m not in {"options", "head"}}

    def build(self, values: dict[str, Any]) -> str:
        return "/" + _PARAM.sub(lambda m: str(values[m["name"]]), self.route)


def iter_routes() -> Iterator[Route]:
    """Every ``path()`` route of the project (regex routes, i.e. the admin's, are skipped)."""

    def walk(resolver: URLResolver, prefix: str) -> Iterator[Route]:
        for entry in resolver.url_patterns:
            if not isinstance(entry.pattern, RoutePattern):
                continue
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry, route)
            else:
                yield Route(route, entry)

    for route in walk(get_resolver(), ""):
        if not route.route.startswith("admin/"):
            yield route
