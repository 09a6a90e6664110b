"""The grant rule: a user or key may grant only permissions it holds itself."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import Forbidden
from ..permissions import PROJECT_PERMISSIONS, Perm
from ..principal import Principal


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
