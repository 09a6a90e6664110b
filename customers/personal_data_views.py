"""The personal-data export from the profile: a printable page and the JSON download.

Both need ``export_customers`` and Personal data (the service refuses others with 403) and
each is audited and an access-log entry. The page streams: its head is rendered once, and
the event rows follow in chunks, so a customer with 100 k events never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from access.permissions import Perm
from access.views_base import ProjectViewMixin

from .services.personal_data_export import (
    PersonalDataDocument,
    json_blocks,
    personal_data_export,
)

EVENTS_MARKER = "<!--personal-data-events-->"
ROWS_PER_BLOCK = 500


def _when(iso: str | None) -> str:
    """An ISO time of the document as the page shows it: ``2026-12-01 11:38:11 UTC``."""
    if not iso:
        return "—"
    return iso[:19].replace("T", " ") + " UTC"


def _text(value: Any) -> str:
    """A value as the page shows it: a string as it is, anything else as its JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


class PersonalDataMixin(ProjectViewMixin):
    permission_required = Perm.EXPORT_CUSTOMERS
    error_title = "The personal data cannot be exported"
    error_outcome = "Nothing was exported."
    error_back_url_name = "customers:list"
    error_back_label = "Back to customers"


def _page_blocks(document: PersonalDataDocument, page: str) -> Iterator[str]:
    head, _, tail = page.partition(EVENTS_MARKER)
    yield head
    events = document.events()
    while True:
        chunk = list(islice(events, ROWS_PER_BLOCK))
        if not chunk:
            break
        rows = [
            {
                "time": _when(e["time"]),
                "type": e["type"],
                "properties": [(k, _text(v)) for k, v in sorted(e["properties"].items())],
            }
            for e in chunk
        ]
        yield render_to_string("customers/_personal_data_events.html", {"events": rows})
    yield tail


class PersonalDataPageView(PersonalDataMixin):
    """GET: the readable view of the whole document (prints well)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        document = personal_data_export(
            actor=self.principal, customer_pk=kwargs["pk"], rendering="html"
        )
        head = document.head
        when = {
            "exported": _when(head["exported_at"]),
            "created": _when(head["customer"]["created_at"]),
            "updated": _when(head["customer"]["updated_at"]),
            "anonymized": _when(head["anonymization"]["anonymized_at"]),
        }
        consents = [{**c, "since": _when(c["since"])} for c in head["consents"]["state"]]
        access = [{**e, "time": _when(e["time"])} for e in head["access_history"]["entries"]]
        context = {
            "when": when,
            "consents": consents,
            "access_entries": access,
            "project": self.project,
            "principal": self.principal,
            "doc": head,
            "properties": [{**p, "text": _text(p["value"])} for p in head["properties"]],
            "ids": [{**i, "text": ", ".join(_text(v) for v in i["values"])} for i in head["ids"]],
            "events_marker": EVENTS_MARKER,
            "profile_url": reverse(
                "customers:detail", kwargs={"token": self.project.token, "pk": kwargs["pk"]}
            ),
            "json_url": reverse(
                "customers:personal_data_json",
                kwargs={"token": self.project.token, "pk": kwargs["pk"]},
            ),
        }
        page = render_to_string("customers/personal_data.html", context, request=request)
        return StreamingHttpResponse(
            _page_blocks(document, page), content_type="text/html; charset=utf-8"
        )


class PersonalDataJsonView(PersonalDataMixin):
    """GET: the machine-readable document, as a download."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        document = personal_data_export(
            actor=self.principal, customer_pk=kwargs["pk"], rendering="json"
        )
        response = StreamingHttpResponse(json_blocks(document), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
        return response
