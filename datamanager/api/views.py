"""``/data/v2/projects/{token}/data-manager/catalog``: read the catalog, change it in one go.

GET needs ``read_customers``; PATCH needs ``manage_data`` and goes through the same service
as the page (validation first, all or nothing, one audit event per changed field). The API
call is not its own confirmation of an unflag: a request that unflags an attribute must
also send ``"confirm_unflag": true``, or it is refused with 400 and nothing changes.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.base import ProjectAPIView
from access.errors import Forbidden
from access.permissions import Perm

from ..models import CustomerAttribute, EventAttribute, EventType
from ..selectors import (
    TrackedValues,
    customer_attributes_for,
    event_types_for,
    suggestions_for,
    tracked_values,
)
from ..services import (
    CustomerAttributeChange,
    EventAttributeChange,
    EventTypeChange,
    catalog_changes_apply,
)
from . import serializers as s

TAG = ["Data manager"]
INCLUDES = ("values", "suggestions")


def _attribute_out(
    attr: CustomerAttribute | EventAttribute,
    *,
    sample: Any,
    suggestion: str | None,
    includes: set[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": attr.name,
        "type": attr.type,
        "description": attr.description,
        "pii": attr.pii,
        "tracked": attr.first_tracked_at is not None,
    }
    if isinstance(attr, CustomerAttribute):
        out = {"name": attr.name, "kind": attr.kind, "hard": attr.hard, **out}
    if "suggestions" in includes:
        out["suggested"] = suggestion
    if "values" in includes:
        out["values"] = sample.to_api() if sample is not None else None
    return out


class CatalogView(ProjectAPIView):
    """The project's attribute catalog and its PII flags."""

    # Checked per method: reading needs read_customers, changing needs manage_data.
    required_permission = None

    @extend_schema(
        tags=TAG,
        operation_id="data_manager_catalog",
        summary="Read the attribute catalog",
        description=(
            "Customer attributes (IDs and properties) and event types with their attributes, "
            "each with type, description and PII flag. `include=values` adds a sample of "
            "tracked values from the most recent rows; for a PII attribute and a key without "
            'Personal data it is only `{"personal_data": true}`. `include=suggestions` adds '
            "why a not-yet-flagged attribute looks like personal data."
        ),
        parameters=[
            OpenApiParameter(
                "include",
                OpenApiTypes.STR,
                description="Comma-separated: values, suggestions.",
                required=False,
            )
        ],
        responses={200: s.CatalogResponseSerializer},
    )
    def get(self, request: Request, token: str) -> Response:
        self._require(Perm.VIEW_CUSTOMERS, "read_customers")
        includes = {
            part.strip() for part in request.query_params.get("include", "").split(",") if part
        } & set(INCLUDES)
        attributes = list(customer_attributes_for(self.principal))
        types = event_types_for(self.principal)
        samples = TrackedValues()
        if includes:
            samples = tracked_values(self.principal, attributes=attributes, event_types=types)
        ca_reasons, ea_reasons = suggestions_for(attributes, types, samples)
        return Response(
            {
                "success": True,
                "customer_attributes": [
                    _attribute_out(
                        a,
                        sample=samples.customer.get(a.name),
                        suggestion=ca_reasons.get(a.name),
                        includes=includes,
                    )
                    for a in attributes
                ],
                "event_types": [
                    self._event_type_out(t, samples, ea_reasons, includes) for t in types
                ],
            }
        )

    def _require(self, perm: Perm, key_permission: str) -> None:
        if not self.principal.has(perm):
            raise Forbidden(f"This API key lacks the '{key_permission}' permission.")

    @staticmethod
    def _event_type_out(
        event_type: EventType,
        samples: TrackedValues,
        reasons: dict[tuple[str, str], str],
        includes: set[str],
    ) -> dict[str, Any]:
        return {
            "name": event_type.name,
            "description": event_type.description,
            "system": event_type.system,
            "tracked": event_type.first_tracked_at is not None,
            "attributes": [
                _attribute_out(
                    a,
                    sample=samples.events.get((event_type.name, a.name)),
                    suggestion=reasons.get((event_type.name, a.name)),
                    includes=includes,
                )
                for a in event_type.attributes.all()
            ],
        }

    @extend_schema(
        tags=TAG,
        operation_id="data_manager_catalog_change",
        summary="Change PII flags, types and descriptions",
        description=(
            "Applies every listed change in one transaction, or none: an unknown attribute "
            "or event type answers 404, a bad type 400. Fields left out stay as they are. "
            'Unflagging needs `"confirm_unflag": true`. Needs the `manage_data` permission.'
        ),
        request=s.CatalogPatchSerializer,
        responses={200: s.CatalogPatchResponseSerializer},
    )
    def patch(self, request: Request, token: str) -> Response:
        self._require(Perm.MANAGE_DATA, "manage_data")
        body = s.CatalogPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = catalog_changes_apply(
            actor=self.principal,
            customer_attributes=[
                CustomerAttributeChange(
                    name=c["name"],
                    pii=c.get("pii"),
                    type=c.get("type"),
                    description=c.get("description"),
                )
                for c in data.get("customer_attributes", [])
            ],
            event_attributes=[
                EventAttributeChange(
                    event_type=t["name"],
                    name=c["name"],
                    pii=c.get("pii"),
                    type=c.get("type"),
                    description=c.get("description"),
                )
                for t in data.get("event_types", [])
                for c in t.get("attributes", [])
            ],
            event_types=[
                EventTypeChange(name=t["name"], description=t["description"])
                for t in data.get("event_types", [])
                if "description" in t
            ],
            confirm_unflag=data["confirm_unflag"],
        )
        return Response(
            {
                "success": True,
                "changed": len(result.changes),
                "changes": [c.to_api() for c in result.changes],
            }
        )
