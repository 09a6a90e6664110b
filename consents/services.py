"""Every write about consent categories: each takes the acting principal and is audited.

Categories are project configuration (Data manager permission); the customer's consents
themselves are ``consent`` events, tracked like any other event.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from access.errors import Conflict, InvalidInput, NotFound
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from .models import ConsentCategory

NAME_RE = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,99}")
MAX_CATEGORIES = 200


def _clean(name: Any, label: Any, description: Any) -> tuple[str, str, str]:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name.strip()):
        raise InvalidInput(
            "A category id is 1-100 lower-case letters, digits, '_', '.' or '-' (e.g. newsletter)."
        )
    if not isinstance(label, str) or len(label) > 200:
        raise InvalidInput("A category name is text of at most 200 characters.")
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidInput("A description is text of at most 2000 characters.")
    return name.strip(), label.strip(), description.strip()


@transaction.atomic
def consent_category_create(
    *,
    actor: Principal,
    name: Any,
    label: Any = "",
    description: Any = "",
    legitimate_interest: bool = False,
) -> ConsentCategory:
    actor.require(Perm.MANAGE_DATA)
    name, label, description = _clean(name, label, description)
    if ConsentCategory.objects.filter(project=actor.project).count() >= MAX_CATEGORIES:
        raise InvalidInput(f"At most {MAX_CATEGORIES} consent categories per project.")
    if ConsentCategory.objects.filter(project=actor.project, name=name).exists():
        raise Conflict(f"A consent category '{name}' already exists.")
    try:
        with transaction.atomic():
            category = ConsentCategory.objects.create(
                project=actor.project,
                name=name,
                label=label,
                description=description,
                legitimate_interest=bool(legitimate_interest),
            )
    except IntegrityError as exc:  # a concurrent create of the same name
        raise Conflict(f"A consent category '{name}' already exists.") from exc
    audit_record(
        actor=actor,
        action="consent_category.create",
        target_type="consent_category",
        target_id=category.pk,
        details={"name": name, "legitimate_interest": category.legitimate_interest},
    )
    return category


def _own(actor: Principal, category: ConsentCategory) -> ConsentCategory:
    if category.project_id != actor.project.pk:
        raise NotFound("Consent category not found.")
    return category


@transaction.atomic
def consent_category_update(
    *,
    actor: Principal,
    category: ConsentCategory,
    label: Any,
    description: Any,
    legitimate_interest: bool,
) -> ConsentCategory:
    """Change a category's name shown, description and legal basis (its id stays)."""
    actor.require(Perm.MANAGE_DATA)
    _own(actor, category)
    _name, label, description = _clean(category.name, label, description)
    old = {"legitimate_interest": category.legitimate_interest}
    category.label, category.description = label, description
    category.legitimate_interest = bool(legitimate_interest)
    category.save(update_fields=["label", "description", "legitimate_interest"])
    audit_record(
        actor=actor,
        action="consent_category.update",
        target_type="consent_category",
        target_id=category.pk,
        details={
            "name": category.name,
            "legitimate_interest": category.legitimate_interest,
            "old_legitimate_interest": old["legitimate_interest"],
        },
    )
    return category


@transaction.atomic
def consent_category_delete(*, actor: Principal, category: ConsentCategory) -> None:
    """Delete a category; the customers' consent events stay (they are the evidence)."""
    actor.require(Perm.MANAGE_DATA)
    _own(actor, category)
    pk, name = category.pk, category.name
    category.delete()
    audit_record(
        actor=actor,
        action="consent_category.delete",
        target_type="consent_category",
        target_id=pk,
        details={"name": name},
    )
