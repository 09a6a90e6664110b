"""Projects (tenants), membership, roles, API keys and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .permissions import PROJECT_PERMISSIONS, Perm


class Project(models.Model):
    """A tenant. Its public ``token`` appears in API paths, as Exponea's project token."""

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        default_permissions = ()
        permissions = PROJECT_PERMISSIONS
        constraints = [models.CheckConstraint(condition=~Q(name=""), name="project_name_not_empty")]

    def __str__(self) -> str:
        return self.name


class ProjectUserObjectPermission(UserObjectPermissionBase):
    """A permission granted to one user directly on a project (e.g. the Personal data toggle)."""

    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class ProjectGroupObjectPermission(GroupObjectPermissionBase):
    """A permission a role (a Django group) holds on a project."""

    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class Membership(models.Model):
    """A user's membership of a project; their roles are the groups of :class:`Role`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project}"


class Role(models.Model):
    """A named bundle of project permissions, backed by a guardian group."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=100)
    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="role")
    builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-builtin", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="role_unique_name"),
            models.CheckConstraint(condition=~Q(name=""), name="role_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    """An invitation to a project, pending until the invited user accepts (or declines) it.

    Nobody is added to a project without their consent. ``invited_as`` is what the admin
    typed (a username or an e-mail); ``user`` is whom it resolved to, or null when nobody
    has that username: the admin's answer is the same either way (a null invitation simply
    never gets accepted), so a project cannot probe for other tenants' users.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
    )
    invited_as = models.CharField(max_length=254)
    roles: models.ManyToManyField[Role, Any] = models.ManyToManyField(
        Role, blank=True, related_name="+"
    )
    invited_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(invited_as=""), name="invitation_invited_as"),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.project}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.declined_at is None


class ApiKey(models.Model):
    """An Exponea-style "API group" key; the secret is hashed.

    A *private* key authenticates with HTTP Basic ``key_id:secret``. A *public* key (for
    browser and mobile SDKs) authenticates with its ``key_id`` alone (``Authorization:
    Token <key_id>`` or ``?access_token=``): it is handed to every visitor, so it may only
    track (a database constraint and the principal both hold it to ``track``).

    Rotation keeps the previous secret's hash valid until ``previous_secret_valid_until``
    (Exponea's 24-hour grace period, ``reference/rotate-api-secret-2``).
    """

    PRIVATE = "private"
    PUBLIC = "public"
    KINDS = [(PRIVATE, "Private (key id and secret)"), (PUBLIC, "Public (tracking only)")]

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=KINDS, default=PRIVATE)
    key_id = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=64)
    # The secret before the last rotation, accepted until the grace period ends.
    previous_secret_hash = models.CharField(max_length=64, blank=True, default="")
    previous_secret_valid_until = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    can_track = models.BooleanField(default=False)
    can_read_customers = models.BooleanField(default=False)
    can_view_personal_data = models.BooleanField(default=False)
    can_export_customers = models.BooleanField(default=False)
    can_anonymize_customers = models.BooleanField(default=False)
    can_manage_data = models.BooleanField(default=False)
    can_view_access_log = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="apikey_name_not_empty"),
            models.CheckConstraint(condition=~Q(key_id=""), name="apikey_key_id_not_empty"),
            # A SHA-256 hex digest, never the secret itself.
            models.CheckConstraint(
                condition=Q(secret_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106
                name="apikey_secret_is_hash",
            ),
            models.CheckConstraint(
                condition=Q(previous_secret_hash="")
                | Q(previous_secret_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106
                name="apikey_previous_secret_is_hash",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["private", "public"]), name="apikey_kind_known"
            ),
            # A public key may only track: it never reads, exports or holds Personal data.
            models.CheckConstraint(
                condition=Q(kind="private")
                | Q(
                    can_read_customers=False,
                    can_view_personal_data=False,
                    can_export_customers=False,
                    can_anonymize_customers=False,
                    can_manage_data=False,
                    can_view_access_log=False,
                ),
                name="apikey_public_tracks_only",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    PERMISSION_FIELDS: dict[str, str] = {
        "track": "can_track",
        "read_customers": "can_read_customers",
        "view_personal_data": "can_view_personal_data",
        "export_customers": "can_export_customers",
        "anonymize_customers": "can_anonymize_customers",
        "manage_data": "can_manage_data",
        "view_access_log": "can_view_access_log",
    }

    @property
    def permission_names(self) -> list[str]:
        """The key's permissions by their API names, in a stable order."""
        return [name for name, field in self.PERMISSION_FIELDS.items() if getattr(self, field)]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_public(self) -> bool:
        return self.kind == self.PUBLIC

    def previous_secret_valid_at(self, now: Any) -> bool:
        """True while the secret before the last rotation is still accepted."""
        return bool(
            self.previous_secret_hash
            and self.previous_secret_valid_until is not None
            and now < self.previous_secret_valid_until
        )


class TrackingSettings(models.Model):
    """Per-project settings of the public tracking surface (browser and mobile SDKs).

    ``allowed_origins``: the origins (``https://shop.example``) whose pages may call the
    tracking endpoints from a browser (CORS). ``public_hard_ids``: what a public key may do
    with a hard customer ID (docs/security.md, "Public tracking keys").
    """

    HARD_IDS_NEVER = "never"
    HARD_IDS_UNCLAIMED = "unclaimed"
    HARD_IDS_ANY = "any"
    HARD_ID_POLICIES = [
        (HARD_IDS_UNCLAIMED, "Only a hard ID no customer holds yet (sign-up)"),
        (HARD_IDS_NEVER, "Never: hard IDs only through a private key"),
        (HARD_IDS_ANY, "Any hard ID (Exponea's behaviour; anyone can merge profiles)"),
    ]

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="tracking_settings"
    )
    allowed_origins = models.JSONField(default=list, blank=True)
    public_hard_ids = models.CharField(
        max_length=10, choices=HARD_ID_POLICIES, default=HARD_IDS_UNCLAIMED
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(public_hard_ids__in=["never", "unclaimed", "any"]),
                name="tracking_settings_hard_id_policy",
            )
        ]

    def __str__(self) -> str:
        return f"tracking settings of {self.project}"


class AuditEvent(models.Model):
    """An append-only record of a change. Holds internal ids and names, never a PII value."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="audit_events", null=True, blank=True
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept when the user or key is later deleted: "alice", "key Backend (k_…)", "cli".
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="audit_project_time")]
        constraints = [
            models.CheckConstraint(condition=~Q(action=""), name="audit_action_not_empty"),
            models.CheckConstraint(
                condition=~(Q(actor_user__isnull=False) & Q(actor_api_key__isnull=False)),
                name="audit_single_actor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Audit events are append-only.")


__all__ = [
    "ApiKey",
    "AuditEvent",
    "Invitation",
    "Membership",
    "Perm",
    "Project",
    "ProjectGroupObjectPermission",
    "ProjectUserObjectPermission",
    "Role",
    "TrackingSettings",
]
