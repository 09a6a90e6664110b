"""API keys: create, rotate, revoke."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ..errors import InvalidInput, NotFound
from ..models import ApiKey
from ..permissions import API_KEY_PERMISSIONS
from ..principal import Principal
from ..selectors import hash_secret
from .audit import audit_record
from .grant_rule import require_held


@transaction.atomic
def api_key_create(
    *, actor: Principal, name: str, permissions: Iterable[str]
) -> tuple[ApiKey, str]:
    """Create an API key; returns it with its secret, which is never stored or shown again."""
    name = name.strip()
    if not name:
        raise InvalidInput("An API key needs a name.")
    perm_names = set(permissions)
    unknown = perm_names - set(API_KEY_PERMISSIONS)
    if unknown:
        raise InvalidInput(f"Unknown API permission(s): {', '.join(sorted(unknown))}.")
    require_held(actor, [API_KEY_PERMISSIONS[name] for name in perm_names])
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        project=actor.project,
        name=name,
        key_id=secrets.token_hex(10),
        secret_hash=hash_secret(secret),
    )
    for perm_name, field in ApiKey.PERMISSION_FIELDS.items():
        setattr(key, field, perm_name in perm_names)
    key.save()
    audit_record(
        actor=actor,
        action="api_key.create",
        target_type="api_key",
        target_id=key.pk,
        details={"name": name, "key_id": key.key_id, "permissions": key.permission_names},
    )
    return key, secret


@transaction.atomic
def api_key_rotate(*, actor: Principal, api_key: ApiKey) -> str:
    """Give an active key a new secret (the old one stops working); returns it, shown once."""
    if api_key.project_id != actor.project.pk or not api_key.is_active:
        raise NotFound("API key not found.")
    secret = secrets.token_urlsafe(32)
    api_key.secret_hash = hash_secret(secret)
    api_key.save(update_fields=["secret_hash"])
    audit_record(
        actor=actor,
        action="api_key.rotate",
        target_type="api_key",
        target_id=api_key.pk,
        details={"name": api_key.name, "key_id": api_key.key_id},
    )
    return secret


@transaction.atomic
def api_key_revoke(*, actor: Principal, api_key: ApiKey) -> ApiKey:
    if api_key.project_id != actor.project.pk:
        raise NotFound("API key not found.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="api_key.revoke",
            target_type="api_key",
            target_id=api_key.pk,
            details={"name": api_key.name, "key_id": api_key.key_id},
        )
    return api_key
