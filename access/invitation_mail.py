"""The invitation e-mail: how the invited person learns about an invitation.

The admin's page answers the same whatever happens here (existing user, new account, or
nobody with that username): only the invited person's mailbox tells the cases apart.
"""

from __future__ import annotations

import logging

from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .services import InvitationResult

logger = logging.getLogger(__name__)


def send_invitation_mail(request: HttpRequest, result: InvitationResult) -> None:
    """Mail the invited user (if any, and if they have an address); never raises."""
    user = result.user
    if user is None or not user.email:
        return
    invitation = result.invitation
    accept_url = request.build_absolute_uri(reverse("invitations"))
    lines = [
        f"{invitation.invited_by_label} invited you to the project '{invitation.project.name}'.",
        "",
    ]
    if result.new_user:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        set_password_url = request.build_absolute_uri(
            reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
        )
        lines += [
            f"An account was made for you; your username is {user.get_username()}.",
            f"Choose your password here: {set_password_url}",
            f"Then sign in and accept the invitation: {accept_url}",
        ]
    else:
        lines += [f"Sign in and accept (or decline) the invitation: {accept_url}"]
    try:
        send_mail(
            subject=f"Invitation to {invitation.project.name}",
            message="\n".join(lines),
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:  # a mail server being down must not change the admin's answer
        logger.warning("Invitation %s: the e-mail could not be sent.", invitation.pk)
