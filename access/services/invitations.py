"""Invitations: invite by username or e-mail; the invited user accepts or declines."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from ..errors import Conflict, InvalidInput, NotFound
from ..models import AuditEvent, Invitation, Membership, Role
from ..principal import Principal
from .audit import audit_record
from .members import member_add_checked, project_roles, require_roles_held


@dataclass(frozen=True)
class InvitationResult:
    """What an invitation did. The *admin's* answer never depends on ``user`` or ``new_user``:
    they only say whom to notify (and how), so views send mail but answer alike."""

    invitation: Invitation
    user: User | None
    new_user: bool


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
    role_list = project_roles(actor.project, roles)
    require_roles_held(actor, role_list)
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
    role_list = project_roles(actor.project, roles)
    require_roles_held(actor, role_list)
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
    membership = member_add_checked(actor=actor, user=user, role_list=list(invitation.roles.all()))
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
