"""What a public tracking key may send (docs/security.md, "Public tracking keys").

A public key sits in every page that tracks, so whoever copies it can send any
``customer_ids``. Attaching someone else's e-mail (a hard ID) to one's own cookie would
merge the two profiles and route the victim's identity to the attacker's browser. So a
public key's ``customer_ids`` pass through :func:`public_key_ids` first:

- they must hold a soft ID (a browser always has its cookie): 400 otherwise, whatever the
  values;
- the project's policy (:class:`access.models.TrackingSettings`) decides hard IDs:
  ``any`` (Exponea's behaviour), ``never`` (403 for any hard ID, whatever the value), or
  ``unclaimed`` (the default): a hard ID no customer holds yet is attached (sign-up), one
  that a customer holds is kept only if the request's soft IDs already name that customer
  (a returning visitor), and is otherwise *dropped without a word* — the request is
  tracked on the soft IDs alone and answers as any other, so the answer never tells
  whether an e-mail address is a customer here.

Private keys and the system pass through unchanged. The check runs before the tracking
transaction: a hard ID claimed by another request in between is the residual race
(docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from access.errors import DomainError, Forbidden, InvalidInput
from access.models import TrackingSettings
from access.principal import Principal
from access.services import tracking_settings_for

from ..selectors import id_names, id_owners
from ..validation import clean_ids
from .tracking_batch import clean_batch_commands


def is_public(actor: Principal) -> bool:
    return actor.api_key is not None and actor.api_key.is_public


def public_key_ids(actor: Principal, raw_ids: Any) -> Any:
    """The ``customer_ids`` a public key may track with (``raw_ids`` for any other actor)."""
    if not is_public(actor):
        return raw_ids
    hard = id_names(actor.project)
    ids = clean_ids(raw_ids, known=hard)
    if all(hard[name] for name in ids):
        raise InvalidInput("A public key must send a soft ID (such as cookie) in customer_ids.")
    hard_ids = {name: value for name, value in ids.items() if hard[name]}
    policy = tracking_settings_for(actor.project).public_hard_ids
    if not hard_ids or policy == TrackingSettings.HARD_IDS_ANY:
        return ids
    if policy == TrackingSettings.HARD_IDS_NEVER:
        raise Forbidden("A public key may not send a hard ID; identify with a private key.")
    owners = id_owners(actor, ids.items())
    soft_owners = {pk for (name, _v), pk in owners.items() if not hard[name]}
    kept = dict(ids)
    for name, value in hard_ids.items():
        owner = owners.get((name, value))
        if owner is not None and owner not in soft_owners:
            del kept[name]  # claimed by someone this browser is not: dropped, silently
    return kept


def public_key_batch(
    actor: Principal, commands: Any, run: Callable[[list[Any]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Run a batch for a public key: each command's IDs through :func:`public_key_ids`; a
    command they refuse answers its own error (in its place), the others run as usual."""
    if not is_public(actor) or not isinstance(commands, list):
        return run(commands)
    commands = clean_batch_commands(commands)  # the count first: no lookups beyond it
    refused: dict[int, dict[str, Any]] = {}
    passed: list[Any] = []
    for position, command in enumerate(commands):
        data = command.get("data") if isinstance(command, dict) else None
        if isinstance(data, dict) and "customer_ids" in data:
            try:
                command = {
                    **command,
                    "data": {**data, "customer_ids": public_key_ids(actor, data["customer_ids"])},
                }
            except DomainError as exc:
                result: dict[str, Any] = {"success": False, "errors": exc.errors}
                if isinstance(command.get("command_id"), str | int):
                    result["command_id"] = command["command_id"]
                refused[position] = result
                continue
        passed.append(command)
    answered = iter(run(passed) if passed else [])
    return [refused[i] if i in refused else next(answered) for i in range(len(commands))]
