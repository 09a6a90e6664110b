"""The customer filter's remembered column choice, per user and project."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from access.errors import InvalidInput
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record
from datamanager.models import AttributeKind, CustomerAttribute

from ..models import CustomerListPreference

MAX_COLUMNS = 40


@transaction.atomic
def customer_list_columns_set(*, actor: Principal, columns: Sequence[str]) -> list[str]:
    """Remember the property columns ``actor``'s user shows in the customer list.

    Unknown names are refused (names only come from the catalog), ID names are dropped
    (ID columns are always shown). Column choice never reveals a value, so PII columns
    may be chosen by anyone: they render as ``******`` without Personal data.
    """
    actor.require(Perm.VIEW_CUSTOMERS)
    if actor.user is None:
        raise InvalidInput("Only a signed-in user has list preferences.")
    wanted = list(dict.fromkeys(c.strip() for c in columns if c and c.strip()))
    if len(wanted) > MAX_COLUMNS:
        raise InvalidInput(f"Choose at most {MAX_COLUMNS} columns.")
    kinds = dict(
        CustomerAttribute.objects.filter(project=actor.project, name__in=wanted).values_list(
            "name", "kind"
        )
    )
    unknown = [c for c in wanted if c not in kinds]
    if unknown:
        raise InvalidInput(f"Unknown column(s): {', '.join(sorted(unknown)[:10])}.")
    chosen = [c for c in wanted if kinds[c] != AttributeKind.ID]
    CustomerListPreference.objects.update_or_create(
        project=actor.project, user=actor.user, defaults={"columns": chosen}
    )
    audit_record(
        actor=actor,
        action="customer_list.columns",
        target_type="user",
        target_id=actor.user.pk,
        details={"columns": chosen},
    )
    return chosen
