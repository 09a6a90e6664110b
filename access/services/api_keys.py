"""API keys: create (private or public), rotate with a grace period, revoke."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..errors import Conflict, InvalidInput, NotFound
from ..models import ApiKey
from ..permissions import API_KEY_PERMISSIONS
from ..principal import Principal
from ..selectors import hash_secret
from .audit import audit_record
from .grant_rule import require_held

# Exponea keeps the old secret for 24 hours after a rotation (reference/rotate-api-secret-2).
DEFAULT_ROTATION_GRACE = timedelta(hours=24)
MAX_ROTATION_GRACE = timedelta(days=7)
# What a public key may hold: it is handed to every browser that tracks.
PUBLIC_KEY_PERMISSIONS = frozenset({"track"})


def rotation_grace() -> timedelta:
    """The grace period of a rotation (``settings.API_KEY_ROTATION_GRACE``, default 24 h)."""
    grace = getattr(settings, "API_KEY_ROTATION_GRACE", DEFAULT_ROTATION_GRACE)
    return grace if isinstance(grace, timedelta) else DEFAULT_ROTATION_GRACE


@transaction.atomic
def api_key_create(
    *, actor: Principal, name: str, permissions: Iterable[str], kind: str = ApiKey.PRIVATE
) -> tuple[ApiKey, str]:
    """Create an API key; returns it with its secret, which is never stored or shown again.

    A public key (``kind="public"``) may hold ``track`` only and has no secret to show: its
    ``key_id`` is the token browsers send (the returned secret is empty).
    """
    name = name.strip()
    if not name:
        raise InvalidInput("An API key needs a name.")
    if kind not in (ApiKey.PRIVATE, ApiKey.PUBLIC):
        raise InvalidInput("An API key is 'private' or 'public'.")
    perm_names = set(permissions)
    unknown = perm_names - set(API_KEY_PERMISSIONS)
    if unknown:
        raise InvalidInput(f"Unknown API permission(s): {', '.join(sorted(unknown))}.")
    if kind == ApiKey.PUBLIC and perm_names - PUBLIC_KEY_PERMISSIONS:
        extra = ", ".join(sorted(perm_names - PUBLIC_KEY_PERMISSIONS))
        raise InvalidInput(f"A public key may only track; it cannot hold: {extra}.")
    require_held(actor, [API_KEY_PERMISSIONS[name] for name in perm_names])
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        project=actor.project,
        name=name,
        kind=kind,
        # A public key's id is its whole credential: as long as a secret, not guessable.
        key_id=secrets.token_hex(10) if kind == ApiKey.PRIVATE else secrets.token_hex(24),
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
        details={
            "name": name,
            "key_id": key.key_id,
            "kind": kind,
            "permissions": key.permission_names,
        },
    )
    return key, ("" if kind == ApiKey.PUBLIC else secret)


def _locked_key(actor: Principal, api_key: ApiKey) -> ApiKey:
    key = ApiKey.objects.select_for_update().filter(pk=api_key.pk).first()
    if key is None or key.project_id != actor.project.pk:
        raise NotFound("API key not found.")
    return key


@transaction.atomic
def api_key_rotate(
    *,
    actor: Principal,
    api_key: ApiKey,
    grace: timedelta | None = None,
    with_previous_secret: bool = False,
) -> str:
    """Give an active private key a new secret; returns it, shown once.

    The secret it had stays valid for ``grace`` (default :func:`rotation_grace`; zero ends
    it at once). A key has at most two secrets: rotating again during a grace period drops
    the older one at once. ``with_previous_secret``: the request authenticated with the
    secret in its grace period (the Authorization API), which cannot rotate again (409).
    """
    key = _locked_key(actor, api_key)
    if not key.is_active:
        raise NotFound("API key not found.")
    if key.is_public:
        raise InvalidInput("A public key has no secret to rotate: revoke it and create another.")
    if with_previous_secret:
        raise Conflict("This secret was already rotated; rotate with the new secret.")
    grace = rotation_grace() if grace is None else grace
    if grace < timedelta(0) or grace > MAX_ROTATION_GRACE:
        raise InvalidInput("The grace period must be between 0 and 7 days.")
    now = timezone.now()
    secret = secrets.token_urlsafe(32)
    if grace > timedelta(0):
        key.previous_secret_hash = key.secret_hash
        key.previous_secret_valid_until = now + grace
    else:
        key.previous_secret_hash, key.previous_secret_valid_until = "", None
    key.secret_hash = hash_secret(secret)
    key.rotated_at = now
    key.save(
        update_fields=[
            "secret_hash",
            "previous_secret_hash",
            "previous_secret_valid_until",
            "rotated_at",
        ]
    )
    for field in ("secret_hash", "previous_secret_hash", "previous_secret_valid_until"):
        setattr(api_key, field, getattr(key, field))
    api_key.rotated_at = key.rotated_at
    audit_record(
        actor=actor,
        action="api_key.rotate",
        target_type="api_key",
        target_id=key.pk,
        details={
            "name": key.name,
            "key_id": key.key_id,
            "grace_seconds": int(grace.total_seconds()),
        },
    )
    return secret


@transaction.atomic
def api_key_end_grace(*, actor: Principal, api_key: ApiKey) -> ApiKey:
    """Stop accepting the secret before the last rotation now (the grace period ends)."""
    key = _locked_key(actor, api_key)
    if key.previous_secret_hash:
        key.previous_secret_hash, key.previous_secret_valid_until = "", None
        key.save(update_fields=["previous_secret_hash", "previous_secret_valid_until"])
        audit_record(
            actor=actor,
            action="api_key.end_grace",
            target_type="api_key",
            target_id=key.pk,
            details={"name": key.name, "key_id": key.key_id},
        )
    api_key.previous_secret_hash, api_key.previous_secret_valid_until = "", None
    return key


@transaction.atomic
def api_key_revoke(*, actor: Principal, api_key: ApiKey) -> ApiKey:
    """Revoke the key: neither its secret nor one in a grace period works any more."""
    if api_key.project_id != actor.project.pk:
        raise NotFound("API key not found.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.previous_secret_hash, api_key.previous_secret_valid_until = "", None
        api_key.save(
            update_fields=["revoked_at", "previous_secret_hash", "previous_secret_valid_until"]
        )
        audit_record(
            actor=actor,
            action="api_key.revoke",
            target_type="api_key",
            target_id=api_key.pk,
            details={"name": api_key.name, "key_id": api_key.key_id},
        )
    return api_key
