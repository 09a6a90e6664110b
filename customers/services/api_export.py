"""Audit of customer exports made through the HTTP API (``customers/export``).

The export itself is a read (streamed by the API view); this records who exported what,
by names only: the columns, the filter's attribute names and event types, never a value
(a filter value such as an e-mail address is personal data).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from access.models import AuditEvent
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from ..filters import CustomerFilter


@transaction.atomic
def customer_export_api_record(
    *,
    actor: Principal,
    export_format: str,
    columns: Sequence[str],
    customer_filter: CustomerFilter,
) -> AuditEvent:
    """Write the ``customers.export`` audit event of an API export before it streams."""
    actor.require(Perm.EXPORT_CUSTOMERS)
    return audit_record(
        actor=actor,
        action="customers.export",
        target_type="project",
        target_id=actor.project.pk,
        details={
            "via": "api",
            "format": export_format,
            "columns": list(columns),
            "filter_attributes": list(customer_filter.attribute_names),
            "filter_event_types": list(customer_filter.event_types),
            "personal_data": actor.can_see_personal_data,
        },
    )
