"""Every write about access: projects, members, roles, direct grants, API keys, audit log.

Each service is keyword-only, atomic, takes the acting principal (or, for project creation
and user-level commands, a label) and writes the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    Project,
    ProjectGroupObjectPermission,
    ProjectUserObjectPermission,
    Role,
)
from .permissions import (
    API_KEY_PERMISSIONS,
    BUILTIN_ROLES,
    DIRECT_GRANTS,
    PROJECT_PERMISSIONS,
    Perm,
)
from .principal import Principal
from .selectors import hash_secret, principal_for_system
from .signals import project_created


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


def require_held(actor: Principal, perms: Iterable[Perm]) -> None:
    """The grant rule: a user or key may grant only permissions it holds itself.

    Refuses with :class:`Forbidden` naming the first permission the actor lacks. The system
    (CLI, seeding) holds every permission; ``track`` is an API-key-only write permission that
    no user holds, so any holder of Access management may hand it to a key.
    """
    labels = dict(PROJECT_PERMISSIONS)
    missing = sorted(Perm(p) for p in perms if Perm(p) != Perm.TRACK and not actor.has(Perm(p)))
    if missing:
        names = ", ".join(f"'{labels.get(p, p.value)}' ({p.value})" for p in missing)
        raise Forbidden(f"You can grant only permissions you hold yourself; you lack {names}.")


def _lock_project(project: Project) -> None:
    """Serialize changes that could remove a project's last admin (the guard's count).

    Every service that calls :func:`_guard_last_admin` takes this row lock first, so a second
    concurrent demotion waits and then counts the admins the first one left (PostgreSQL;
    SQLite's IMMEDIATE transactions already serialize writers).
    """
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).get()


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


def _role_group_name(project: Project, name: str) -> str:
    return f"project-{project.pk}:{name}"[:150]


@transaction.atomic
def role_create(
    *, actor: Principal, name: str, permissions: Iterable[Perm], builtin: bool = False
) -> Role:
    """Create a role in the actor's project holding ``permissions`` (guardian group perms)."""
    project = actor.project
    name = name.strip()
    if not name:
        raise InvalidInput("A role needs a name.")
    if Role.objects.filter(project=project, name__iexact=name).exists():
        raise Conflict(f"A role named '{name}' already exists.")
    perms = sorted({Perm(p) for p in permissions} - {Perm.TRACK})
    require_held(actor, perms)
    group = Group.objects.create(name=_role_group_name(project, name))
    role = Role.objects.create(project=project, name=name, group=group, builtin=builtin)
    for perm in perms:
        assign_perm(perm.value, group, project)
    audit_record(
        actor=actor,
        action="role.create",
        target_type="role",
        target_id=role.pk,
        details={"name": name, "permissions": [p.value for p in perms]},
    )
    return role


@transaction.atomic
def project_create(*, name: str, created_by: str = "system") -> Project:
    """Create a project with its built-in roles; listeners add the default ID attributes."""
    name = name.strip()
    if not name:
        raise InvalidInput("A project needs a name.")
    project = Project.objects.create(name=name)
    actor = principal_for_system(project, label=created_by)
    audit_record(actor=actor, action="project.create", target_type="project", target_id=project.pk)
    for role_name, perms in BUILTIN_ROLES.items():
        role_create(actor=actor, name=role_name, permissions=perms, builtin=True)
    project_created.send(sender=Project, project=project, actor=actor)
    return project


@transaction.atomic
def member_add(*, actor: Principal, user: User, roles: Iterable[Role] = ()) -> Membership:
    """Add ``user`` to the actor's project with ``roles`` (idempotent for an existing member)."""
    role_list = _project_roles(actor.project, roles)
    _require_roles_held(actor, role_list)
    return _member_add(actor=actor, user=user, role_list=role_list)


def _member_add(*, actor: Principal, user: User, role_list: list[Role]) -> Membership:
    """Add ``user`` with roles already checked (by the grant rule, or at invitation time)."""
    project = actor.project
    membership, created = Membership.objects.get_or_create(project=project, user=user)
    for role in role_list:
        user.groups.add(role.group)  # type: ignore[attr-defined]
    if created or role_list:
        audit_record(
            actor=actor,
            action="member.add" if created else "member.roles_add",
            target_type="user",
            target_id=user.pk,
            details={"username": user.get_username(), "roles": [r.name for r in role_list]},
        )
    return membership


@transaction.atomic
def member_set_direct_grant(*, actor: Principal, user: User, perm: Perm, granted: bool) -> None:
    """Grant or withdraw a direct user permission (Personal data, Anonymize customers)."""
    if perm not in DIRECT_GRANTS:
        raise InvalidInput(f"'{perm.value}' cannot be granted directly.")
    project = actor.project
    if not Membership.objects.filter(project=project, user=user).exists():
        raise NotFound("Member not found.")
    if granted:
        require_held(actor, [perm])
        assign_perm(perm.value, user, project)
    else:
        remove_perm(perm.value, user, project)
    audit_record(
        actor=actor,
        action="member.grant" if granted else "member.revoke_grant",
        target_type="user",
        target_id=user.pk,
        details={"permission": perm.value},
    )


def user_get_or_create(*, username: str, email: str = "", password: str | None = None) -> Any:
    """Find or create a Django user (used by the seeder and management commands)."""
    User = get_user_model()
    user, _created = User.objects.get_or_create(username=username, defaults={"email": email})
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


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


# ---------------------------------------------------------------------------
# Team management: members, roles, the last-admin guard
# ---------------------------------------------------------------------------

# An "admin" is a member holding manage_access (through a role or a direct grant): only an
# admin can repair access, so a project must always keep at least one.
ADMIN_PERMISSION = Perm.MANAGE_ACCESS


def project_admin_ids(project: Project) -> set[int]:
    """Ids of the active members of ``project`` who hold ``manage_access``."""
    admin_groups = ProjectGroupObjectPermission.objects.filter(
        content_object=project, permission__codename=ADMIN_PERMISSION.value
    ).values("group_id")
    direct = ProjectUserObjectPermission.objects.filter(
        content_object=project, permission__codename=ADMIN_PERMISSION.value
    ).values("user_id")
    return set(
        Membership.objects.filter(project=project, user__is_active=True)
        .filter(Q(user__groups__in=admin_groups) | Q(user__in=direct))
        .values_list("user_id", flat=True)
    )


def _guard_last_admin(project: Project, admins_before: set[int]) -> None:
    """Refuse (and so roll back) a change that left a project that had an admin without one."""
    if admins_before and not project_admin_ids(project):
        raise Conflict(
            "The project would be left without an admin: at least one member must keep "
            "the Access management permission."
        )


def _member_or_404(project: Project, user: User) -> Membership:
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def _require_roles_held(actor: Principal, roles: Iterable[Role]) -> None:
    """Giving someone a role grants its permissions: the actor must hold them all."""
    wanted: set[Perm] = set()
    for role in roles:
        wanted |= role_permissions(role)
    require_held(actor, wanted)


def _project_roles(project: Project, roles: Iterable[Role]) -> list[Role]:
    role_list = list(roles)
    if any(role.project_id != project.pk for role in role_list):
        raise NotFound("Role not found.")
    return role_list


def _username_from_email(email: str) -> str:
    """A fresh username: the e-mail's name and a random suffix, never a counter.

    ``admin2`` would tell the inviting admin that ``admin`` exists elsewhere; a random
    suffix says nothing about other users.
    """
    User = get_user_model()
    base = "".join(ch for ch in email.split("@", 1)[0] if ch.isalnum() or ch in "._-")[:100]
    base = base or "user"
    while True:
        candidate = f"{base}-{secrets.token_hex(3)}"
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate


@dataclass(frozen=True)
class InvitationResult:
    """What an invitation did. The *admin's* answer never depends on ``user`` or ``new_user``:
    they only say whom to notify (and how), so views send mail but answer alike."""

    invitation: Invitation
    user: User | None
    new_user: bool


def _invite(
    *, actor: Principal, invited_as: str, user: User | None, role_list: list[Role]
) -> Invitation:
    project = actor.project
    if user is not None and Membership.objects.filter(project=project, user=user).exists():
        raise Conflict("Already a member: edit their roles in the table.")
    # Inviting the same name again updates the pending invitation instead of piling up.
    invitation = (
        Invitation.objects.select_for_update()
        .filter(
            project=project,
            invited_as=invited_as,
            accepted_at__isnull=True,
            declined_at__isnull=True,
        )
        .first()
    )
    if invitation is None:
        invitation = Invitation.objects.create(
            project=project, user=user, invited_as=invited_as, invited_by_label=actor.label[:200]
        )
    elif invitation.user_id != (user.pk if user is not None else None):
        invitation.user = user  # the name now resolves to someone else (or to someone)
        invitation.save(update_fields=["user"])
    invitation.roles.set(role_list)
    audit_record(
        actor=actor,
        action="member.invite",
        target_type="invitation",
        target_id=invitation.pk,
        # The same details whether or not the name belongs to anyone; no e-mail address.
        details={"roles": sorted(r.name for r in role_list)},
    )
    return invitation


@transaction.atomic
def member_invite_by_username(
    *, actor: Principal, username: str, roles: Iterable[Role] = ()
) -> InvitationResult:
    """Invite whoever has ``username``; they join only when they accept.

    Nobody with that username (or an inactive one) gives an invitation no one can accept:
    the admin's answer is the same, so usernames of other tenants cannot be probed.
    """
    username = username.strip()
    if not username:
        raise InvalidInput("Enter a username.")
    role_list = _project_roles(actor.project, roles)
    _require_roles_held(actor, role_list)
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    invitation = _invite(actor=actor, invited_as=username, user=user, role_list=role_list)
    return InvitationResult(invitation=invitation, user=user, new_user=False)


@transaction.atomic
def member_invite_by_email(
    *, actor: Principal, email: str, roles: Iterable[Role] = ()
) -> InvitationResult:
    """Invite ``email``: its existing user, or a new account without a password yet.

    A new account gets a random username and an unusable password; the invitation mail
    lets its owner choose one. Its creation is audited installation-wide (no project), so
    the project's audit log reads the same whether or not the address was known.
    """
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidInput("Enter a valid e-mail address.") from exc
    role_list = _project_roles(actor.project, roles)
    _require_roles_held(actor, role_list)
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    new_user = user is None
    if user is None:
        user = User.objects.create_user(username=_username_from_email(email), email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        AuditEvent.objects.create(
            project=None,
            actor_user=actor.user,
            actor_api_key=actor.api_key,
            actor_label=actor.label[:200],
            action="user.create",
            target_type="user",
            target_id=str(user.pk),
            details={"username": user.get_username()},
            ip=actor.ip,
        )
    invitation = _invite(actor=actor, invited_as=email, user=user, role_list=role_list)
    return InvitationResult(invitation=invitation, user=user, new_user=new_user)


def _pending_invitation(user: User, invitation_id: Any) -> Invitation:
    try:
        pk = int(invitation_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Invitation not found.") from exc
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("project")
        .filter(pk=pk, user=user, accepted_at__isnull=True, declined_at__isnull=True)
        .first()
    )
    if invitation is None or not user.is_active:
        raise NotFound("Invitation not found.")
    return invitation


@transaction.atomic
def invitation_accept(*, user: User, invitation_id: Any, ip: str | None = None) -> Membership:
    """The invited user joins with the invitation's roles (checked when it was made)."""
    invitation = _pending_invitation(user, invitation_id)
    actor = Principal(project=invitation.project, permissions=frozenset(), user=user, ip=ip)
    membership = _member_add(actor=actor, user=user, role_list=list(invitation.roles.all()))
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        actor=actor, action="invitation.accept", target_type="invitation", target_id=invitation.pk
    )
    return membership


@transaction.atomic
def invitation_decline(*, user: User, invitation_id: Any, ip: str | None = None) -> None:
    invitation = _pending_invitation(user, invitation_id)
    invitation.declined_at = timezone.now()
    invitation.save(update_fields=["declined_at"])
    actor = Principal(project=invitation.project, permissions=frozenset(), user=user, ip=ip)
    audit_record(
        actor=actor, action="invitation.decline", target_type="invitation", target_id=invitation.pk
    )


@transaction.atomic
def member_roles_set(*, actor: Principal, user: User, roles: Iterable[Role]) -> list[Role]:
    """Set the member's roles in the actor's project to exactly ``roles``."""
    project = actor.project
    _lock_project(project)
    _member_or_404(project, user)
    wanted = _project_roles(project, roles)
    admins_before = project_admin_ids(project)
    current = list(Role.objects.filter(project=project, group__user=user))
    wanted_ids = {r.pk for r in wanted}
    current_ids = {r.pk for r in current}
    removed = [r for r in current if r.pk not in wanted_ids]
    added = [r for r in wanted if r.pk not in current_ids]
    if not removed and not added:
        return wanted
    _require_roles_held(actor, added)
    user.groups.remove(*[r.group for r in removed])  # type: ignore[attr-defined]
    user.groups.add(*[r.group for r in added])  # type: ignore[attr-defined]
    _guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="member.roles_set",
        target_type="user",
        target_id=user.pk,
        details={
            "username": user.get_username(),
            "roles": sorted(r.name for r in wanted),
            "added": sorted(r.name for r in added),
            "removed": sorted(r.name for r in removed),
        },
    )
    return wanted


@transaction.atomic
def member_remove(*, actor: Principal, user: User) -> None:
    """Remove ``user`` from the actor's project: membership, project roles and direct grants."""
    project = actor.project
    _lock_project(project)
    membership = _member_or_404(project, user)
    admins_before = project_admin_ids(project)
    groups = Group.objects.filter(role__project=project, user=user)
    user.groups.remove(*groups)  # type: ignore[attr-defined]
    ProjectUserObjectPermission.objects.filter(content_object=project, user=user).delete()
    membership.delete()
    _guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="member.remove",
        target_type="user",
        target_id=user.pk,
        details={"username": user.get_username()},
    )


def _role_permissions_set(role: Role, project: Project, perms: set[Perm]) -> None:
    current = {
        Perm(code)
        for code in ProjectGroupObjectPermission.objects.filter(
            group=role.group, content_object=project
        ).values_list("permission__codename", flat=True)
    }
    for perm in sorted(perms - current):
        assign_perm(perm.value, role.group, project)
    for perm in sorted(current - perms):
        remove_perm(perm.value, role.group, project)


def role_permissions(role: Role) -> frozenset[Perm]:
    """The permissions a role holds on its project."""
    valid = {p.value for p in Perm}
    return frozenset(
        Perm(code)
        for code in ProjectGroupObjectPermission.objects.filter(
            group=role.group, content_object_id=role.project_id
        ).values_list("permission__codename", flat=True)
        if code in valid
    )


def _custom_role_or_refuse(actor: Principal, role: Role) -> None:
    if role.project_id != actor.project.pk:
        raise NotFound("Role not found.")
    if role.builtin:
        raise InvalidInput(f"'{role.name}' is a built-in role and cannot be changed.")


@transaction.atomic
def role_update(*, actor: Principal, role: Role, name: str, permissions: Iterable[Perm]) -> Role:
    """Rename a custom role and set its permissions (built-in roles are read-only)."""
    _custom_role_or_refuse(actor, role)
    project = actor.project
    name = name.strip()
    if not name:
        raise InvalidInput("A role needs a name.")
    if Role.objects.filter(project=project, name__iexact=name).exclude(pk=role.pk).exists():
        raise Conflict(f"A role named '{name}' already exists.")
    perms = {Perm(p) for p in permissions} - {Perm.TRACK}
    _lock_project(project)
    admins_before = project_admin_ids(project)
    old_name, old_perms = role.name, role_permissions(role)
    require_held(actor, perms - old_perms)
    if name != role.name:
        role.name = name
        role.save(update_fields=["name"])
        # Keyed by id ("#" never appears in names role_create builds), so no rename collides.
        role.group.name = f"project-{project.pk}#role-{role.pk}"
        role.group.save(update_fields=["name"])
    _role_permissions_set(role, project, perms)
    _guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="role.update",
        target_type="role",
        target_id=role.pk,
        details={
            "name": name,
            "old_name": old_name,
            "permissions": sorted(p.value for p in perms),
            "old_permissions": sorted(p.value for p in old_perms),
        },
    )
    return role


@transaction.atomic
def role_delete(*, actor: Principal, role: Role) -> None:
    """Delete a custom role; its holders lose its permissions at once."""
    _custom_role_or_refuse(actor, role)
    project = actor.project
    _lock_project(project)
    admins_before = project_admin_ids(project)
    role_id, name, group = role.pk, role.name, role.group
    role.delete()
    group.delete()
    _guard_last_admin(project, admins_before)
    audit_record(
        actor=actor,
        action="role.delete",
        target_type="role",
        target_id=role_id,
        details={"name": name},
    )
