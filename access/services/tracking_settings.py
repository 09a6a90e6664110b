"""The project's public tracking surface: CORS origins and what a public key may do."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.db import transaction

from ..errors import InvalidInput
from ..models import Project, TrackingSettings
from ..permissions import Perm
from ..principal import Principal
from .audit import audit_record

MAX_ORIGINS = 50


def tracking_settings_for(project: Project) -> TrackingSettings:
    """The project's settings (defaults when none were saved; not written)."""
    found = TrackingSettings.objects.filter(project=project).first()
    return found if found is not None else TrackingSettings(project=project)


def clean_origin(raw: str) -> str:
    """``scheme://host[:port]`` in lower case, or :class:`InvalidInput` naming the position."""
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or "*" in value
    ):
        raise InvalidInput("An origin is scheme://host[:port], such as https://shop.example.")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("An origin's port must be a number.") from exc
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


@transaction.atomic
def tracking_settings_update(
    *, actor: Principal, allowed_origins: Iterable[str], public_hard_ids: str
) -> TrackingSettings:
    """Set the CORS origins of the tracking endpoints and the public keys' hard-ID policy."""
    actor.require(Perm.MANAGE_ACCESS)
    origins: list[str] = []
    for position, raw in enumerate(allowed_origins, start=1):
        if not isinstance(raw, str):
            raise InvalidInput(f"Origin {position} must be text.")
        if not raw.strip():
            continue
        try:
            origin = clean_origin(raw)
        except InvalidInput as exc:
            raise InvalidInput(f"Origin {position}: {exc.message}") from exc
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise InvalidInput(f"At most {MAX_ORIGINS} origins.")
    if public_hard_ids not in {code for code, _label in TrackingSettings.HARD_ID_POLICIES}:
        raise InvalidInput("Unknown hard-ID policy for public keys.")
    current, _created = TrackingSettings.objects.select_for_update().get_or_create(
        project=actor.project
    )
    current.allowed_origins = origins
    current.public_hard_ids = public_hard_ids
    current.save()
    audit_record(
        actor=actor,
        action="tracking_settings.update",
        target_type="project",
        target_id=actor.project.pk,
        details={"allowed_origins": origins, "public_hard_ids": public_hard_ids},
    )
    return current
