"""Project-defined customer IDs: the one way the product adds an ID name to a catalog.

Exponea projects define their own IDs (``email_id``, ``crm_id``, ``phone_id``…) beside the
defaults ``registered`` (hard) and ``cookie`` (soft) (Exponea's ``docs/external-id``). An
ID is a :class:`~datamanager.models.CustomerAttribute` of kind ``id``: once it exists,
tracking, lookups, masking, the filter, exports and anonymization treat it as they treat
the defaults, since they all read ID names from the catalog
(:func:`customers.selectors.id_names`). The Data manager page, the API
(``POST /data/v2/projects/{token}/data-manager/ids``) and ``manage.py create_customer_id``
all call :func:`customer_id_create`. (Only setup code bypasses it: a new project's default
IDs, ``datamanager.services.on_project_created``, and the test/seeding shortcut
``attribute_declare(kind="id")``, which declares a soft ID, audited as
``datamanager.attribute_declare``.)
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from access.errors import InvalidInput
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from .catalog import catalog_invalidate, catalog_lock
from .models import AttributeKind, AttributeType, CustomerAttribute
from .services import DESCRIPTION_MAX

ID_NAME_MAX = 64
# Lower-case ASCII letters, digits and underscores, starting with a letter, as Exponea's
# own ID names are (registered, cookie, email_id, google_analytics): an ID name is sent
# as a JSON key by every tracking script and shown as a column, so no look-alikes.
ID_NAME_RE = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
# The page CSV's first column is our customer id: an ID of that name would repeat the header.
RESERVED_ID_NAMES = frozenset({"internal_id"})


class CustomerIdInvalid(InvalidInput):
    """The ID cannot be added (bad or taken name, bad field); nothing was written."""

    code = "customer_id_invalid"


def _shown(name: str) -> str:
    # The name is the caller's own input; a long one is cut so an error stays one line.
    return name if len(name) <= ID_NAME_MAX else name[:ID_NAME_MAX] + "…"


def customer_id_name_errors(name: Any) -> list[str]:
    """Why ``name`` cannot be a new ID name (format only; the catalog is checked on create)."""
    if not isinstance(name, str) or not name:
        return ["The ID name must be a non-empty string."]
    if len(name) > ID_NAME_MAX or not ID_NAME_RE.fullmatch(name):
        return [
            f"ID name '{_shown(name)}' is invalid: use up to {ID_NAME_MAX} lower-case letters, "
            "digits and underscores, starting with a letter (e.g. crm_id)."
        ]
    if name in RESERVED_ID_NAMES:
        return [f"ID name '{name}' is reserved: the customer's internal id goes by it."]
    return []


def customer_id_out(attr: CustomerAttribute) -> dict[str, Any]:
    """An ID as the API answers it (the catalog API's shape for a customer attribute)."""
    return {
        "name": attr.name,
        "kind": attr.kind,
        "hard": attr.hard,
        "type": attr.type,
        "description": attr.description,
        "pii": attr.pii,
        "tracked": attr.first_tracked_at is not None,
    }


@transaction.atomic
def customer_id_create(
    *, actor: Principal, name: Any, hard: Any, pii: Any = True, description: Any = ""
) -> CustomerAttribute:
    """Add a customer ID name to the actor's project; needs ``manage_data``.

    ``hard``: one value per customer, the customer's identity, never merged away (like
    ``registered``); soft: several values per customer (like ``cookie``). PII is on unless
    the caller turns it off: an ID names a person. Everything is checked before anything
    is written: a bad or taken name (an ID or a property of that name exists) or a bad field
    raises :class:`CustomerIdInvalid` naming it, and nothing changes. One
    ``datamanager.id_create`` audit event (the name and the flags, never a value); the
    cached catalog is invalidated, so a PII ID is masked from the very next request.
    """
    actor.require(Perm.MANAGE_DATA)
    project = actor.project
    errors = customer_id_name_errors(name)
    if not isinstance(hard, bool):
        errors.append("hard must be true (a hard ID) or false (a soft ID).")
    if not isinstance(pii, bool):
        errors.append("pii must be true or false.")
    if not isinstance(description, str):
        errors.append("description must be a string.")
    elif len(description) > DESCRIPTION_MAX:
        errors.append(f"The description is longer than {DESCRIPTION_MAX} characters.")
    if errors:
        raise CustomerIdInvalid(errors[0], errors=errors)
    assert isinstance(name, str) and isinstance(description, str)

    # Like every catalog change: exclusive against anonymizations reading their plan.
    catalog_lock(project.pk, exclusive=True)
    existing = CustomerAttribute.objects.filter(project=project, name=name).first()
    if existing is not None:
        what = "customer ID" if existing.kind == AttributeKind.ID else "customer property"
        raise CustomerIdInvalid(f"A {what} named '{name}' already exists.")
    try:
        with transaction.atomic():
            attr = CustomerAttribute.objects.create(
                project=project,
                name=name,
                kind=AttributeKind.ID,
                hard=hard,
                type=AttributeType.STRING,
                description=" ".join(description.split()),
                pii=pii,
            )
    except IntegrityError as exc:  # tracked as a property (or added) a moment ago
        raise CustomerIdInvalid(f"A customer attribute named '{name}' already exists.") from exc
    audit_record(
        actor=actor,
        action="datamanager.id_create",
        target_type="customer_attribute",
        target_id=attr.pk,
        details={"attribute": name, "hard": hard, "pii": pii},
    )
    catalog_invalidate(project.pk)
    return attr
