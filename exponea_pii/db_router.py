"""Read-replica routing: heavy read-only pages may read from a PostgreSQL streaming replica.

Set ``DATABASE_REPLICA_URL`` and settings add a ``replica`` database alias; without it
there is no such alias and this router answers ``None`` everywhere, so Django uses
``default`` exactly as before.

Reads go to the replica **only when a caller opts in** with :func:`replica_reads` (a
context manager and view decorator), never by default: a replica lags the primary by a
few milliseconds to seconds, and services that read what they just wrote (tracking,
anonymization, permission checks after a grant) must see their own writes. The customer
filter's list, count estimate and CSV export are the intended users: they tolerate a
second of lag and are most of the read load at scale.

Only customer data (customers, their IDs, events) is ever read from the replica. The PII
catalog, permissions, sessions and everything else that decides *what may be shown* are
always read from the primary, so a PII flag or a revoked "Personal data" grant takes
effect at once even while the replica lags.

Inside a transaction on ``default`` the router keeps reads on ``default`` even when opted
in, so a read inside ``transaction.atomic()`` always sees the transaction's own writes.
Writes and migrations always go to ``default`` (the replica gets them by replication).
"""

from __future__ import annotations

from contextlib import ContextDecorator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_ALIAS = "replica"
# Models whose reads may lag: the customer data the filter lists and exports.
REPLICA_MODELS = frozenset({"customers.customer", "customers.customerid", "customers.event"})

_replica_wanted: ContextVar[bool] = ContextVar("replica_wanted", default=False)


def replica_configured() -> bool:
    """Whether settings define the ``replica`` alias (``DATABASE_REPLICA_URL`` was set)."""
    return REPLICA_ALIAS in settings.DATABASES


def read_alias() -> str:
    """The alias a replica-tolerant read should use right now (``replica`` or ``default``).

    For code that needs an explicit ``.using(...)`` (raw cursors, ``EXPLAIN`` estimates)
    over customer data only (see ``REPLICA_MODELS``).
    """
    if (
        _replica_wanted.get()
        and replica_configured()
        and not connections[DEFAULT_DB_ALIAS].in_atomic_block
    ):
        return REPLICA_ALIAS
    return DEFAULT_DB_ALIAS


# Lower case: it reads like a function at the call site, `with replica_reads():`.
class replica_reads(ContextDecorator):
    """Let the reads in this block (or decorated function) go to the replica, if any.

    ``with replica_reads(): ...`` or ``@replica_reads()`` on a view or selector. Streaming
    responses evaluate their queryset after the view returns: build the queryset with
    ``.using(read_alias())`` inside the block, or wrap the generator's body.
    """

    def __enter__(self) -> replica_reads:
        self._token = _replica_wanted.set(True)
        return self

    def __exit__(self, *exc: object) -> None:
        _replica_wanted.reset(self._token)

    def _recreate_cm(self) -> replica_reads:
        # A fresh instance per decorated call, so concurrent or nested calls keep own tokens.
        return replica_reads()


class ReplicaRouter:
    """Route opted-in reads to the ``replica`` alias; everything else to ``default``."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        if model._meta.label_lower not in REPLICA_MODELS:
            return None
        alias = read_alias()
        return alias if alias == REPLICA_ALIAS else None

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return None  # default: the primary

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica holds the same rows as the primary: objects read from either relate.
        dbs = {obj1._state.db, obj2._state.db}
        if dbs <= {DEFAULT_DB_ALIAS, REPLICA_ALIAS}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        # A physical replica is read-only; it receives the schema from the primary.
        if db == REPLICA_ALIAS:
            return False
        return None
