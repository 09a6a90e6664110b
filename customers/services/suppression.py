"""No silent re-identification: tracking that carries an erased hard ID is refused.

When a customer is anonymized (and the project's "suppress erased identities" switch is
on, the default) a keyed hash of each hard ID value it had is kept
(:func:`~customers.services.erasure_ledger.hard_id_hash`: HMAC-SHA256 with a per-project
key, the same hash the erasure ledger writes — never the value). A later tracking command
carrying such a value creates no customer and changes nothing: a single call answers 403
``{"success": false, "errors": [...]}``, a ``/batch`` command gets that result in its slot
and the other commands are processed (as Exponea answers a refused command). Each refusal
bumps the identity's counter, shown on the Legal holds & suppression page. An admin
(``manage_access``) lifts the suppression of one value by typing it in; the value is
hashed, compared and forgotten (the audit log gets the ID name only).

The switches live in :class:`~customers.models.ErasureSettings` (no row: both on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from access.errors import Forbidden, InvalidInput
from access.models import Project
from access.permissions import Perm
from access.principal import Principal
from access.services import audit_record

from ..models import CustomerId, ErasureSettings, SuppressedIdentity
from ..selectors import id_names
from . import tracking_pg
from .anonymization_sql import IdIn, rows_insert
from .erasure_ledger import hard_id_hash


class IdentitySuppressed(Forbidden):
    """A tracking command named a hard ID of an anonymized customer (403, no write)."""

    code = "identity_suppressed"

    def __init__(self, id_name: str) -> None:
        super().__init__(
            f"The value of customer ID '{id_name}' belongs to an erased (anonymized) customer "
            "and is suppressed: the command was refused and no customer was created."
        )


def erasure_settings(project: Project) -> ErasureSettings:
    """The project's switches (unsaved defaults, both on, when it has no row)."""
    found = ErasureSettings.objects.filter(project=project).first()
    return found if found is not None else ErasureSettings(project=project)


@transaction.atomic
def erasure_settings_update(
    *, actor: Principal, remove_leftovers: bool, suppress_erased_ids: bool
) -> ErasureSettings:
    """Change the switches (Data manager); audited with the new values."""
    actor.require(Perm.MANAGE_DATA)
    row, _ = ErasureSettings.objects.select_for_update().get_or_create(project=actor.project)
    row.remove_leftovers = bool(remove_leftovers)
    row.suppress_erased_ids = bool(suppress_erased_ids)
    row.save(update_fields=["remove_leftovers", "suppress_erased_ids", "updated_at"])
    audit_record(
        actor=actor,
        action="erasure_settings.update",
        target_type="project",
        target_id=actor.project.pk,
        details={
            "remove_leftovers": row.remove_leftovers,
            "suppress_erased_ids": row.suppress_erased_ids,
        },
    )
    return row


def identities_suppress(
    project: Project,
    customer_pks: Sequence[int],
    *,
    id_rows: Iterable[tuple[int, str, str]] | None = None,
) -> dict[int, int]:
    """Keep the hashes of these customers' hard IDs (inside the anonymization's transaction,
    before the IDs are deleted); returns how many were suppressed per customer.

    ``id_rows``: the customers' ``(customer_id, name, value)`` ID rows if the caller has
    read them already (the leftover check has); otherwise they are read here.
    """
    counts = {pk: 0 for pk in customer_pks}
    hard = sorted(name for name, is_hard in id_names(project).items() if is_hard)
    if not hard or not customer_pks:
        return counts
    token = str(project.token)
    now = timezone.now()
    if id_rows is None:
        id_rows = CustomerId.objects.filter(
            IdIn("customer_id", customer_pks), name__in=hard
        ).values_list("customer_id", "name", "value")
    rows = []
    for customer_id, name, value in id_rows:
        if name not in hard or customer_id not in counts:
            continue
        rows.append(
            {
                "project_id": project.pk,
                "id_name": name,
                "value_hash": hard_id_hash(token, name, value),
                "created_at": now,
                "refused": 0,
                "last_refused_at": None,
            }
        )
        counts[customer_id] += 1
    rows_insert(SuppressedIdentity, rows, ignore_conflicts=True)
    return counts


def _hashes(project: Project, ids: Mapping[str, str], hard: Mapping[str, bool]) -> dict[str, str]:
    token = str(project.token)
    return {hard_id_hash(token, name, value): name for name, value in ids.items() if hard.get(name)}


def _refuse(project: Project, hashes: Iterable[str]) -> None:
    # Counted in its own autocommit statement: the refused command writes nothing else.
    SuppressedIdentity.objects.filter(project=project, value_hash__in=list(hashes)).update(
        refused=F("refused") + 1, last_refused_at=timezone.now()
    )


def suppressed_name(
    project: Project, ids: Mapping[str, str], hard: Mapping[str, bool]
) -> str | None:
    """The name of a suppressed hard ID in ``ids``, or None (one query; counts nothing)."""
    hashes = _hashes(project, ids, hard)
    if not hashes:
        return None
    found = list(
        SuppressedIdentity.objects.filter(project=project, value_hash__in=list(hashes)).values_list(
            "value_hash", flat=True
        )
    )
    return hashes[sorted(found)[0]] if found else None


def suppressed_names_any(
    project: Project, commands: Sequence[Mapping[str, str]], hard: Mapping[str, bool]
) -> bool:
    """True if any of the commands' hard IDs is suppressed (one query; counts nothing)."""
    wanted = sorted({h for ids in commands for h in _hashes(project, ids, hard)})
    if not wanted:
        return False
    return SuppressedIdentity.objects.filter(project=project, value_hash__in=wanted).exists()


def suppression_check(project: Project, ids: Mapping[str, str], hard: Mapping[str, bool]) -> None:
    """Raise :class:`IdentitySuppressed` if a hard ID in ``ids`` is suppressed (one query),
    and count the refusal."""
    hashes = _hashes(project, ids, hard)
    if not hashes:
        return
    found = list(
        SuppressedIdentity.objects.filter(project=project, value_hash__in=list(hashes)).values_list(
            "value_hash", flat=True
        )
    )
    if found:
        _refuse(project, found)
        raise IdentitySuppressed(hashes[sorted(found)[0]])


def _suppressed_among(project: Project, hashes: Sequence[str]) -> set[str]:
    """The suppressed ones of these hashes, in a fixed statement: building the ORM's query
    cost more Python than the lookup itself on every /batch (issue 14)."""
    if connection.vendor == "postgresql":
        return tracking_pg.suppressed_among(project.pk, hashes)
    table = connection.ops.quote_name(SuppressedIdentity._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT value_hash FROM {table} WHERE project_id = %s "  # noqa: S608
            f"AND value_hash IN ({', '.join(['%s'] * len(hashes))})",
            [project.pk, *hashes],
        )
        return {row[0] for row in cursor.fetchall()}


def suppressed_positions(
    project: Project, commands: Sequence[Mapping[str, str]], hard: Mapping[str, bool]
) -> dict[int, str]:
    """For a batch: position -> the suppressed ID name, for commands naming one (one query)."""
    per_command = [_hashes(project, ids, hard) for ids in commands]
    wanted = sorted({h for hashes in per_command for h in hashes})
    if not wanted:
        return {}
    found = _suppressed_among(project, wanted)
    if not found:
        return {}
    refused: dict[int, str] = {}
    for position, hashes in enumerate(per_command):
        hits = sorted(h for h in hashes if h in found)
        if hits:
            refused[position] = hashes[hits[0]]
    # One bump per refused command and value would need a statement each; one per value.
    _refuse(project, {h for hashes in per_command for h in hashes if h in found})
    return refused


@dataclass(frozen=True)
class SuppressionSummary:
    identities: int
    refused: int


def suppression_summary(actor: Principal) -> SuppressionSummary:
    """The counter: suppressed values and tracking commands refused because of them."""
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    rows = SuppressedIdentity.objects.filter(project=actor.project)
    return SuppressionSummary(
        identities=rows.count(), refused=int(rows.aggregate(n=Sum("refused"))["n"] or 0)
    )


@transaction.atomic
def suppression_lift(*, actor: Principal, id_name: object, value: object) -> bool:
    """Lift the suppression of one typed-in hard ID value; True if it was suppressed."""
    actor.require(Perm.MANAGE_ACCESS)
    hard = id_names(actor.project)
    if not isinstance(id_name, str) or not hard.get(id_name):
        raise InvalidInput("Choose one of the project's hard customer ID names.")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("Type the ID value whose suppression to lift.")
    value_hash = hard_id_hash(str(actor.project.token), id_name, value.strip())
    deleted, _ = SuppressedIdentity.objects.filter(
        project=actor.project, value_hash=value_hash
    ).delete()
    audit_record(
        actor=actor,
        action="suppression.lift",
        target_type="project",
        target_id=actor.project.pk,
        details={"id_name": id_name, "found": bool(deleted)},
    )
    return bool(deleted)
