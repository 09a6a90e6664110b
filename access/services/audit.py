"""The audit log's one writer: :func:`audit_record`."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from ..models import AuditEvent, Project
from ..principal import Principal


def audit_record(
    *,
    actor: Principal,
    action: str,
    target_type: str = "",
    target_id: object = "",
    details: dict[str, Any] | None = None,
    project: Project | None = None,
) -> AuditEvent:
    """Append one audit event. ``details`` must hold names and internal ids, never PII values.

    Names a caller supplied (export columns, filter attributes and event types) are
    checked against the project's catalog here, the one writer: a name the Data manager
    does not know is refused (:class:`InvalidInput`) and nothing is written, so a probe
    cannot store an e-mail address in the audit log by "exporting a column" named so.
    """
    _require_catalog_names(project or actor.project, details or {})
    return AuditEvent.objects.create(
        project=project or actor.project,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:200],
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        ip=actor.ip,
    )


# Audit details keys that hold caller-supplied names: each must be a catalog name.
_CUSTOMER_ATTRIBUTE_NAME_KEYS = ("columns", "filter_attributes")
_EVENT_TYPE_NAME_KEYS = ("filter_event_types",)


def _require_catalog_names(project: Project, details: dict[str, Any]) -> None:
    from datamanager.models import CustomerAttribute, EventType  # datamanager imports access

    checks: list[tuple[str, Any]] = [
        (key, CustomerAttribute) for key in _CUSTOMER_ATTRIBUTE_NAME_KEYS
    ]
    checks += [(key, EventType) for key in _EVENT_TYPE_NAME_KEYS]
    for key, model in checks:
        names = details.get(key)
        if not names:
            continue
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise InvalidInput(f"Audit detail '{key}' must be a list of names.")
        known = set(
            model.objects.filter(project=project, name__in=names).values_list("name", flat=True)
        )
        unknown = [name for name in names if name not in known]
        if unknown:
            # The names are not repeated: they are what the caller sent, maybe a value.
            raise InvalidInput(
                f"{len(unknown)} name(s) in '{key}' are not in the Data manager's catalog."
            )
