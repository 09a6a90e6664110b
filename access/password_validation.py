"""A password must not be built from the username (``victimvictim`` for ``victim``)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError


def _fold(value: str) -> str:
    return re.sub(r"[\W_]+", "", value.casefold())


class UsernameInPasswordValidator:
    """Refuses a password containing the username or the e-mail's local part (3+ chars).

    Django's UserAttributeSimilarityValidator compares whole strings, so a repeated or
    padded username (``victimvictim``, ``victim2026!``) passes it.
    """

    min_length = 3

    def validate(self, password: str, user: Any = None) -> None:
        if user is None:
            return
        folded = _fold(password)
        names = [getattr(user, "username", "") or ""]
        email = getattr(user, "email", "") or ""
        names.append(email.split("@", 1)[0])
        for name in names:
            part = _fold(name)
            if len(part) >= self.min_length and part in folded:
                raise ValidationError(
                    "The password contains your username or e-mail name.",
                    code="password_contains_username",
                )

    def get_help_text(self) -> str:
        return "Your password can't contain your username or e-mail name."
