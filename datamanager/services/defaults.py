"""What every new project's catalog starts with: the default IDs and the system event types."""

from __future__ import annotations

from typing import Any

from access.models import Project
from access.principal import Principal

from ..models import AttributeKind, AttributeType, CustomerAttribute, EventAttribute, EventType

DEFAULT_IDS: list[tuple[str, bool, str]] = [
    ("registered", True, "Hard ID: the customer's login, usually an e-mail address."),
    ("cookie", False, "Soft ID: a browser cookie; a customer may have several."),
]
SYSTEM_EVENT_TYPES: dict[str, dict[str, AttributeType]] = {
    "anonymization": {"source": AttributeType.STRING},
}


def on_project_created(*, project: Project, actor: Principal, **_: Any) -> None:
    """Every new project starts with the ``registered`` (hard) and ``cookie`` (soft) IDs."""
    CustomerAttribute.objects.bulk_create(
        [
            CustomerAttribute(
                project=project,
                name=name,
                kind=AttributeKind.ID,
                hard=hard,
                type=AttributeType.STRING,
                description=description,
            )
            for name, hard, description in DEFAULT_IDS
        ]
    )
    for type_name, attrs in SYSTEM_EVENT_TYPES.items():
        event_type = EventType.objects.create(
            project=project, name=type_name, system=True, description="Tracked by the product."
        )
        EventAttribute.objects.bulk_create(
            [EventAttribute(event_type=event_type, name=n, type=t) for n, t in attrs.items()]
        )
