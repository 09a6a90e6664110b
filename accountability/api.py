"""``/data/v2/projects/{token}/customers/access-history``: the access log from the API.

Needs ``view_access_log`` on the key. ``customer_ids`` are internal ids — as a query
(``?customer_ids=12,13``, so no ID value lands in a URL or a proxy's log) or in a POST
body, where Exponea-style IDs (``{"registered": "..."}``) are accepted too and resolved as
``export-one`` does (that also needs ``read_customers``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.api.schema import error_responses
from access.errors import InvalidInput
from access.permissions import Perm
from customers.api.reading import customer_find
from customers.api.tracking_views import body_object

from .models import PersonalDataAccess
from .selectors import MAX_CUSTOMERS, access_history

TAG = ["Customers"]


def _internal_ids(values: list[Any]) -> list[int]:
    ids: list[int] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidInput("customer_ids must be internal ids (whole numbers).")
        try:
            number = int(value)
        except ValueError:
            raise InvalidInput("customer_ids must be internal ids (whole numbers).") from None
        if number < 1 or number > 2**62:
            raise InvalidInput("customer_ids must be internal ids (whole numbers).")
        ids.append(number)
    if not ids:
        raise InvalidInput("customer_ids is required.")
    if len(ids) > MAX_CUSTOMERS:
        raise InvalidInput(f"At most {MAX_CUSTOMERS} customer_ids per request.")
    return ids


def _entry_out(entry: PersonalDataAccess, asked: set[int]) -> dict[str, Any]:
    return {
        "timestamp": entry.created_at.timestamp(),
        "principal": entry.actor_label,
        "principal_type": "api_key" if entry.actor_api_key_id else "user",
        "channel": entry.channel,
        "view": entry.view,
        "customer_ids": [pk for pk in entry.customer_ids if pk in asked],
        "customer_count": entry.customer_count,
        "attribute_names": entry.attribute_names,
        "reason": entry.reason,
        "export_id": str(entry.export_id) if entry.export_id else None,
    }


class AccessHistoryView(ProjectAPIView):
    required_permission = Perm.VIEW_ACCESS_LOG

    def answer(self, ids: list[int]) -> Response:
        entries = access_history(self.principal, ids)
        asked = set(ids)
        return Response({"success": True, "entries": [_entry_out(e, asked) for e in entries]})

    @extend_schema(
        tags=TAG,
        operation_id="customer_access_history",
        summary="Who was shown these customers' personal data",
        parameters=[
            OpenApiParameter(
                "customer_ids",
                OpenApiTypes.STR,
                description="Internal customer ids, comma separated (up to 100).",
                required=True,
            )
        ],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 403)},
    )
    def get(self, request: Request, token: str) -> Response:
        raw = [
            part
            for value in request.query_params.getlist("customer_ids")
            for part in value.split(",")
        ]
        return self.answer(_internal_ids([part.strip() for part in raw if part.strip()]))

    @extend_schema(
        tags=TAG,
        operation_id="customer_access_history_post",
        summary="Who was shown these customers' personal data (ids in the body)",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 403, 413, 415)},
    )
    def post(self, request: Request, token: str) -> Response:
        body = body_object(request)
        unknown = sorted(set(body) - {"customer_ids"})
        if unknown:
            raise InvalidInput(f"Unknown key(s): {', '.join(k[:64] for k in unknown[:5])}.")
        raw = body.get("customer_ids")
        if isinstance(raw, dict):
            return self.answer([customer_find(self.principal, raw).pk])
        if not isinstance(raw, list):
            raise InvalidInput("customer_ids must be a list of internal ids or an object of IDs.")
        return self.answer(_internal_ids(raw))
