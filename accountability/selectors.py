"""Reading the personal-data access log, for principals with ``view_access_log``."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet

from access.permissions import Perm
from access.principal import Principal

from .models import PersonalDataAccess

HISTORY_LIMIT = 500
MAX_CUSTOMERS = 100
# SQLite has no JSON containment operator; json_each walks the (short) list.
_SQLITE_NAMES_CUSTOMER = (
    "EXISTS (SELECT 1 FROM json_each(accountability_personaldataaccess.customer_ids)"
    " WHERE json_each.value = %s)"
)


def _naming_customer(qs: QuerySet[PersonalDataAccess], pk: int) -> QuerySet[PersonalDataAccess]:
    """Entries whose ``customer_ids`` list holds ``pk`` (JSON containment per database)."""
    if connection.vendor == "postgresql":
        return qs.filter(customer_ids__contains=[pk])
    return qs.extra(where=[_SQLITE_NAMES_CUSTOMER], params=[pk])  # noqa: S610 - bound id


def access_log_for_project(principal: Principal) -> QuerySet[PersonalDataAccess]:
    """Every access entry of the principal's project, newest first."""
    principal.require(Perm.VIEW_ACCESS_LOG)
    return PersonalDataAccess.objects.filter(project=principal.project).order_by(
        "-created_at", "-id"
    )


def access_history(
    principal: Principal, customer_pks: Iterable[int], *, limit: int = HISTORY_LIMIT
) -> list[PersonalDataAccess]:
    """Who was shown these customers' personal data: entries naming any of them, newest
    first. Large exports name no customers (filter, count and export id instead); they
    are on the project's access log page."""
    pks = sorted(set(customer_pks))
    qs = access_log_for_project(principal)
    if not pks:
        return []
    union = _naming_customer(qs, pks[0])
    for pk in pks[1:]:
        union = union | _naming_customer(qs, pk)
    return list(union.order_by("-created_at", "-id")[:limit])
