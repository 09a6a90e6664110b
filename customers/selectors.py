"""Reads about customers shared by the UI, the API and tasks; always scoped to a project."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.db.models import Q, QuerySet

from access.errors import NotFound
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from datamanager.models import AttributeKind, CustomerAttribute

from .models import Customer, CustomerId


def id_names(project: Project) -> dict[str, bool]:
    """The project's customer ID names, each mapped to whether it is a hard ID."""
    return dict(
        CustomerAttribute.objects.filter(project=project, kind=AttributeKind.ID).values_list(
            "name", "hard"
        )
    )


def customers_for(principal: Principal) -> QuerySet[Customer]:
    """The customers the principal may read: those of its project, if it may view customers."""
    principal.require(Perm.VIEW_CUSTOMERS)
    return Customer.objects.filter(project=principal.project)


def customer_ids_matching(project: Project, ids: Mapping[str, str]) -> dict[tuple[str, str], int]:
    """Map each given ``(name, value)`` that exists in the project to its customer's id."""
    if not ids:
        return {}
    condition = Q()
    for name, value in ids.items():
        condition |= Q(name=name, value=value)
    rows = CustomerId.objects.filter(condition, project=project).values_list(
        "name", "value", "customer_id"
    )
    return {(name, value): customer_id for name, value, customer_id in rows}


def customer_by_ids(project: Project, ids: Mapping[str, str]) -> Customer:
    """The customer the given IDs identify, or :class:`NotFound`.

    If the IDs point at different customers, the first hard match wins, as tracking
    would merge them into it.
    """
    matches = customer_ids_matching(project, ids)
    if not matches:
        raise NotFound("Customer not found.")
    hard = id_names(project)
    hard_matches = [cid for (name, _), cid in sorted(matches.items()) if hard.get(name)]
    customer_id = hard_matches[0] if hard_matches else min(matches.values())
    return Customer.objects.get(pk=customer_id, project=project)


def customer_get(principal: Principal, customer_pk: int | str) -> Customer:
    """A customer of the principal's project by internal id; 404 for any other project."""
    try:
        return customers_for(principal).get(pk=customer_pk)
    except (Customer.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("Customer not found.") from exc


def ids_of_customers(customer_pks: Iterable[int]) -> dict[int, dict[str, list[str]]]:
    """External IDs per customer, as ``{customer_pk: {name: [values]}}``, in one query."""
    out: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for customer_id, name, value in (
        CustomerId.objects.filter(customer_id__in=list(customer_pks))
        .order_by("customer_id", "name", "id")
        .values_list("customer_id", "name", "value")
    ):
        out[customer_id][name].append(value)
    return {pk: dict(v) for pk, v in out.items()}
