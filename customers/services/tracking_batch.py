"""Exponea's ``/batch`` in few queries: one identify pass for all commands, bulk writes.

A batch of 50 commands costs a constant number of queries in the common case (every
command names customers that either all exist as one customer or do not exist at all):
one to match every ID of the batch, one to lock the customers whose properties change,
one insert each for new customers, their IDs and the events, one bulk update of properties.
Anything rarer (a merge, a soft ID moving, a hard-ID conflict) takes the exact per-command
path of :func:`customers.services.tracking.customer_identify` for that command only.

Each command is validated on its own and answers with its own result, so one bad command
does not fail the others; the valid ones are written in one transaction.

Locking and re-check as in :mod:`customers.services.tracking`: every customer the batch's
IDs name is locked up front in ascending id order and the IDs are read again under the
lock (a mismatch starts the transaction over); a customer written later in the batch (a
rare-path target, one created by an earlier flush) is locked before it is written; an
anonymized customer gets events and properties without PII, and never an ID.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connection, transaction
from django.utils import timezone

from access.errors import DomainError, InvalidInput, TooLarge
from access.permissions import Perm
from access.principal import Principal
from datamanager.models import EventType
from datamanager.services import catalog_register_seen

from ..models import Customer, CustomerId, Event
from ..selectors import id_names, id_owners
from ..validation import (
    clean_ids,
    clean_name,
    clean_properties,
    clean_timestamp,
    limit,
    to_datetime,
)
from . import tracking_pg as _pg
from .erasure_ledger import hard_id_hash
from .suppression import IdentitySuppressed, suppressed_names_any, suppressed_positions
from .tracking import (
    StaleRead,
    anonymized_catalog,
    customer_identify_locked,
    customer_properties_apply,
    lock_customers,
    run_retrying,
    strip_customer_properties,
    strip_event_properties,
)

COMMAND_CUSTOMERS = "customers"
COMMAND_EVENTS = "customers/events"
COMMAND_TIME = "system/time"
COMMANDS = (COMMAND_CUSTOMERS, COMMAND_EVENTS, COMMAND_TIME)

Key = tuple[str, str]


@dataclass
class _Command:
    """One valid tracking command, cleaned; ``index`` is its position in the request."""

    index: int
    name: str
    ids: dict[str, str]
    properties: dict[str, Any]
    timestamp: float | None = None
    event_type: str = ""


# ---------------------------------------------------------------------------------------------
# Catalog discovery, remembered per process: a name registered (and committed) once does not
# need the catalog queries again. Only committed registrations are remembered (on_commit), and
# the memory is dropped for a project whenever a write fails, so a rolled-back or deleted
# catalog row is never trusted.


@dataclass
class _KnownNames:
    customer: set[str] = field(default_factory=set)
    event_types: dict[str, EventType] = field(default_factory=dict)
    event_attributes: set[tuple[str, str]] = field(default_factory=set)


_known_lock = threading.Lock()
_known: dict[uuid.UUID, _KnownNames] = {}
_KNOWN_MAX_PROJECTS = 1000


def _known_for(token: uuid.UUID) -> _KnownNames:
    with _known_lock:
        known = _known.get(token)
        if known is None:
            if len(_known) >= _KNOWN_MAX_PROJECTS:
                _known.clear()
            known = _known[token] = _KnownNames()
        return known


def catalog_memory_forget(token: uuid.UUID) -> None:
    """Forget what this process remembers of a project's catalog (after a failed write)."""
    with _known_lock:
        _known.pop(token, None)


def _register_names(*, actor: Principal, commands: Iterable[_Command]) -> dict[str, EventType]:
    """Register names not yet known to this process; return the event types by name."""
    project = actor.project
    known = _known_for(project.token)
    customer_samples: dict[str, Any] = {}
    id_seen: set[str] = set()
    event_samples: dict[str, dict[str, Any]] = {}
    used_types: set[str] = set()
    for cmd in commands:
        id_seen.update(n for n in cmd.ids if n not in known.customer)
        if cmd.name == COMMAND_CUSTOMERS:
            for name, value in cmd.properties.items():
                if name not in known.customer:
                    customer_samples.setdefault(name, value)
        else:
            used_types.add(cmd.event_type)
            unknown = cmd.event_type not in known.event_types
            props = event_samples.setdefault(cmd.event_type, {}) if unknown else None
            for name, value in cmd.properties.items():
                if (cmd.event_type, name) not in known.event_attributes:
                    if props is None:
                        props = event_samples.setdefault(cmd.event_type, {})
                    props.setdefault(name, value)
    types = {name: known.event_types[name] for name in used_types if name in known.event_types}
    if not (customer_samples or id_seen or event_samples):
        return types
    registered = catalog_register_seen(
        project=project,
        id_names=id_seen,
        customer_properties=customer_samples,
        events=event_samples,
    )
    types.update(registered)

    def remember() -> None:
        known.customer.update(customer_samples)
        known.customer.update(id_seen)
        known.event_types.update(registered)
        known.event_attributes.update(
            (type_name, attr) for type_name, props in event_samples.items() for attr in props
        )

    transaction.on_commit(remember)
    return types


# ---------------------------------------------------------------------------------------------
# Validation


def _clean_command(index: int, raw: Any, hard: Mapping[str, bool]) -> _Command | dict[str, Any]:
    """A cleaned command, or the result to answer for it right away."""
    if not isinstance(raw, dict):
        raise InvalidInput("A command must be an object with 'name' and 'data'.")
    name = raw.get("name")
    if name == COMMAND_TIME:
        return {"success": True, "time": time.time()}
    if name not in (COMMAND_CUSTOMERS, COMMAND_EVENTS):
        raise InvalidInput(f"Unknown command; use one of: {', '.join(COMMANDS)}.")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("data must be an object.")
    ids = clean_ids(data.get("customer_ids"), known=hard)
    if name == COMMAND_CUSTOMERS:
        props = clean_properties(data.get("properties"))
        clash = sorted(set(props) & set(hard))
        if clash:
            raise InvalidInput(f"'{clash[0]}' is a customer ID name; send it in customer_ids.")
        ts = clean_timestamp(data.get("update_timestamp"), what="update_timestamp")
        return _Command(index=index, name=name, ids=ids, properties=props, timestamp=ts)
    event_type = clean_name(data.get("event_type"), what="event_type")
    props = clean_properties(data.get("properties"))
    ts = clean_timestamp(data.get("timestamp"))
    return _Command(
        index=index, name=name, ids=ids, properties=props, timestamp=ts, event_type=event_type
    )


def clean_batch_commands(commands: Any) -> list[Any]:
    """The list of commands, within the configured count (the whole request fails otherwise)."""
    if not isinstance(commands, list):
        raise InvalidInput("commands must be a list.")
    if len(commands) > limit("BATCH_COMMANDS"):
        raise TooLarge(f"A batch holds at most {limit('BATCH_COMMANDS')} commands.")
    return commands


# ---------------------------------------------------------------------------------------------
# Writing


def _match(actor: Principal, keys: Iterable[Key]) -> dict[Key, int]:
    """Map each existing ``(name, value)`` to its customer id: one query for the whole batch
    (:func:`~customers.selectors.id_owners`; on PostgreSQL an array-parameter statement)."""
    if connection.vendor == "postgresql":
        return _pg.match(actor.project.pk, list(keys))
    return id_owners(actor, keys)


def _rematch_suppressed(
    actor: Principal,
    keys: set[Key],
    owners: dict[Key, int],
    commands: list[dict[str, str]],
    hard: Mapping[str, bool],
) -> bool:
    """Once the batch's customers are locked: raise :class:`StaleRead` if the IDs no longer
    name the customers read before; True if a hard ID became suppressed meanwhile (an
    anonymization committed after the first check). One statement on PostgreSQL."""
    if connection.vendor == "postgresql":
        token = str(actor.project.token)
        hashes = sorted(
            {
                hard_id_hash(token, name, value)
                for ids in commands
                for name, value in ids.items()
                if hard.get(name)
            }
        )
        if not hashes and not owners:
            return False  # nothing to re-check: a new ID taken meanwhile fails the insert
        found, suppressed = _pg.match_unsuppressed(actor.project.pk, list(keys), hashes)
        if owners and found != owners:
            raise StaleRead
        return suppressed
    if owners and _match(actor, keys) != owners:
        raise StaleRead
    return any(hard.get(name) for name, _ in keys) and suppressed_names_any(
        actor.project, commands, hard
    )


@dataclass
class NewCustomer:
    """A customer to insert: what the batch set on it, and its pk once inserted.

    A plain object rather than a model instance: building 50 model instances per batch
    costs more than the statements that insert them.
    """

    properties: dict[str, Any] = field(default_factory=dict)
    property_timestamps: dict[str, Any] = field(default_factory=dict)
    pk: int | None = None


# A locked customer: the ORM's (SQLite, and the rare per-command path) or PostgreSQL's light row.
Locked = Customer | _pg.LockedCustomer


def _lock(
    actor: Principal, pks: Iterable[int], with_properties: Iterable[int] = ()
) -> dict[int, Locked]:
    """Lock customers in ascending id order; on PostgreSQL as light rows (properties only
    for ``with_properties``)."""
    if connection.vendor == "postgresql":
        return dict(_pg.lock_customers(actor.project.pk, pks, with_properties=set(with_properties)))
    return dict(lock_customers(actor.project, pks))


class _Segment:
    """Commands resolved to customers, written together when flushed."""

    def __init__(
        self, actor: Principal, types: Mapping[str, EventType], locked: dict[int, Locked]
    ) -> None:
        self.actor = actor
        self.types = types
        # Existing customers locked by this transaction, as last read (dropped when a
        # rare-path command may have changed them).
        self.locked = locked
        # Customer refs: an int >= 0 is an existing customer's pk, a negative int a new one.
        self.new_customers: list[NewCustomer] = []
        self.new_ids: list[tuple[int, str, str]] = []
        self.steps: list[tuple[int, _Command]] = []

    def new_customer(self, ids: Mapping[str, str]) -> int:
        self.new_customers.append(NewCustomer())
        ref = -len(self.new_customers)
        self.new_ids.extend((ref, name, value) for name, value in ids.items())
        return ref

    def add(self, ref: int, cmd: _Command) -> None:
        self.steps.append((ref, cmd))

    def flush(self) -> None:
        if not self.steps and not self.new_customers:
            return
        project = self.actor.project
        now_ts = time.time()
        new_by_ref = {-(i + 1): c for i, c in enumerate(self.new_customers)}
        existing = {ref for ref, _ in self.steps if ref >= 0}
        missing = existing - set(self.locked)
        if missing:
            # Written by an earlier step of this batch (locked already) or not yet locked:
            # lock and read them now; one that is gone means the batch read stale IDs.
            self.locked.update(lock_customers(project, missing))
            if not existing <= set(self.locked):
                raise StaleRead
        locked = self.locked
        if any(locked[ref].anonymized_at is not None for ref in existing):
            self._strip_for_anonymized()
        # A light row locked without its properties that a command updates after all (its
        # IDs moved to it during the batch): read it in full; it is locked already.
        unread = {
            ref
            for ref, cmd in self.steps
            if ref >= 0 and cmd.name == COMMAND_CUSTOMERS and cmd.properties
            if locked[ref].properties is None
        }
        if unread:
            locked.update(lock_customers(project, unread))
        changed: set[int] = set()
        # Properties first, in command order, on the in-memory rows; new customers are
        # inserted with their properties, so they cost no update.
        for ref, cmd in self.steps:
            if cmd.name != COMMAND_CUSTOMERS or not cmd.properties:
                continue
            customer = new_by_ref[ref] if ref < 0 else cast(Customer, locked[ref])
            ts = cmd.timestamp if cmd.timestamp is not None else now_ts
            if customer_properties_apply(customer, cmd.properties, ts) and ref >= 0:
                changed.add(ref)
        if self.new_customers:
            if connection.vendor == "postgresql":
                _pg.insert_customers(project.pk, self.new_customers)
            else:
                created = Customer.objects.bulk_create(
                    [
                        Customer(
                            project=project,
                            properties=c.properties,
                            property_timestamps=c.property_timestamps,
                        )
                        for c in self.new_customers
                    ]
                )
                for new, row in zip(self.new_customers, created, strict=True):
                    new.pk = row.pk
        pk_of: dict[int, int] = {ref: c.pk for ref, c in new_by_ref.items() if c.pk is not None}
        if self.new_ids:
            rows = [(pk_of[ref], name, value) for ref, name, value in self.new_ids]
            if connection.vendor == "postgresql":
                _pg.insert_ids(project.pk, rows)
            else:
                CustomerId.objects.bulk_create(
                    [
                        CustomerId(project=project, customer_id=pk, name=name, value=value)
                        for pk, name, value in rows
                    ]
                )
        if changed:
            now = timezone.now()
            updated = [cast(Customer, locked[pk]) for pk in sorted(changed)]
            if connection.vendor == "postgresql":
                _pg.update_customers(project.pk, updated, now)
            else:
                for customer in updated:
                    customer.updated_at = now
                Customer.objects.bulk_update(
                    updated, ["properties", "property_timestamps", "updated_at"]
                )
        event_rows = [
            (
                pk_of[ref] if ref < 0 else ref,
                self.types[cmd.event_type].pk,
                to_datetime(cmd.timestamp if cmd.timestamp is not None else now_ts),
                cmd.properties,
            )
            for ref, cmd in self.steps
            if cmd.name == COMMAND_EVENTS
        ]
        if event_rows and connection.vendor == "postgresql":
            _pg.insert_events(project.pk, event_rows)
        elif event_rows:
            Event.objects.bulk_create(
                [
                    Event(
                        project=project,
                        customer_id=customer_id,
                        event_type_id=type_id,
                        timestamp=stamp,
                        properties=props,
                    )
                    for customer_id, type_id, stamp, props in event_rows
                ]
            )
        self.new_customers, self.new_ids, self.steps = [], [], []

    def _strip_for_anonymized(self) -> None:
        """Drop PII from the commands written to anonymized customers (catalog lock shared)."""
        catalog = anonymized_catalog(self.actor.project)
        steps: list[tuple[int, _Command]] = []
        for ref, cmd in self.steps:
            if ref >= 0 and self.locked[ref].anonymized_at is not None:
                if cmd.name == COMMAND_CUSTOMERS:
                    props = strip_customer_properties(catalog, cmd.properties)
                else:
                    props = strip_event_properties(catalog, cmd.event_type, cmd.properties)
                cmd = _Command(
                    index=cmd.index,
                    name=cmd.name,
                    ids=cmd.ids,
                    properties=props,
                    timestamp=cmd.timestamp,
                    event_type=cmd.event_type,
                )
            steps.append((ref, cmd))
        self.steps = steps


def _write(actor: Principal, commands: list[_Command], hard: Mapping[str, bool]) -> None:
    types = _register_names(actor=actor, commands=commands)
    all_keys = {key for cmd in commands for key in cmd.ids.items()}
    owners: dict[Key, int] = _match(actor, all_keys)
    # Lock every customer the batch names, in ascending id order, then check that the IDs
    # still name them: a merge or an anonymization in between starts the batch over. Only
    # the customers whose properties a command updates are read with their properties.
    updating = {
        owners[key]
        for cmd in commands
        if cmd.name == COMMAND_CUSTOMERS and cmd.properties
        for key in cmd.ids.items()
        if key in owners
    }
    locked = _lock(actor, owners.values(), updating)
    if owners and set(locked) != set(owners.values()):
        raise StaleRead
    if _rematch_suppressed(actor, all_keys, owners, [cmd.ids for cmd in commands], hard):
        raise SuppressedMeanwhile
    anonymized = {pk for pk, c in locked.items() if c.anonymized_at is not None}
    segment = _Segment(actor, types, locked)
    for cmd in commands:
        keys = list(cmd.ids.items())
        found = {owners.get(key) for key in keys}
        if anonymized & found and len(found) > 1:
            found = {None, -1}  # IDs of an anonymized customer with others: the exact path
        if None not in found and len(found) == 1:
            ref = found.pop()
            assert ref is not None
            segment.add(ref, cmd)
        elif found == {None}:
            ref = segment.new_customer(cmd.ids)
            owners.update(dict.fromkeys(keys, ref))
            segment.add(ref, cmd)
        else:
            # A merge, a moving soft ID or a hard-ID conflict: write what came before, then
            # take the exact per-command path, then look the remaining IDs up again.
            segment.flush()
            tracked = customer_identify_locked(actor=actor, ids=cmd.ids, hard=hard)
            segment.locked.clear()  # a merge may have changed or deleted what we read
            segment.add(tracked.customer.pk, cmd)
            segment.flush()
            owners = _match(actor, all_keys)
            anonymized = {pk for pk, c in segment.locked.items() if c.anonymized_at is not None}
    segment.flush()


def tracking_batch(*, actor: Principal, commands: Any) -> list[dict[str, Any]]:
    """Exponea's batch: validate each command alone, write the valid ones together.

    Returns one result per command, in order: ``{"success": true}``, ``{"success": true,
    "time": ...}`` for ``system/time``, or ``{"success": false, "errors": [...]}``. A wrong
    ``commands`` value or too many commands fail the whole request (InvalidInput/TooLarge).
    """
    actor.require(Perm.TRACK)
    commands = clean_batch_commands(commands)
    hard = (
        _pg.id_names(actor.project.pk)
        if connection.vendor == "postgresql"
        else id_names(actor.project)
    )
    results: list[dict[str, Any]] = []
    valid: list[_Command] = []
    for index, raw in enumerate(commands):
        try:
            cleaned = _clean_command(index, raw, hard)
        except DomainError as exc:
            results.append({"success": False, "errors": exc.errors})
            continue
        if isinstance(cleaned, _Command):
            valid.append(cleaned)
            results.append({"success": True})
        else:
            results.append(cleaned)
        if isinstance(raw, dict) and isinstance(raw.get("command_id"), str | int):
            results[-1]["command_id"] = raw["command_id"]
    # An erased customer's hard ID: refused per command, nothing written (issue 17). An
    # anonymization that commits after this check is seen by the second one inside the
    # write's transaction (after the batch's customers are locked), which starts over here.
    for _attempt in range(SUPPRESSION_ATTEMPTS):
        valid = _drop_suppressed(actor, valid, hard, results)
        if not valid:
            break
        try:
            _write_with_retry(actor, valid, hard)
            break
        except SuppressedMeanwhile:
            continue
    return results


# How often a batch starts over because anonymizations kept committing under it.
SUPPRESSION_ATTEMPTS = 3


class SuppressedMeanwhile(Exception):
    """An anonymization committed between the batch's suppression check and its write."""


def _drop_suppressed(
    actor: Principal,
    commands: list[_Command],
    hard: Mapping[str, bool],
    results: list[dict[str, Any]],
) -> list[_Command]:
    """The commands naming no suppressed hard ID; the others get the refusal as result."""
    if not commands:
        return commands
    refused = suppressed_positions(actor.project, [cmd.ids for cmd in commands], hard)
    for position, id_name in refused.items():
        results[commands[position].index].update(
            success=False, errors=IdentitySuppressed(id_name).errors
        )
    return [cmd for position, cmd in enumerate(commands) if position not in refused]


def _write_with_retry(actor: Principal, commands: list[_Command], hard: Mapping[str, bool]) -> None:
    # Another request created one of these IDs first, a merge or an anonymization moved
    # them, a deadlock (or a remembered catalog row is gone): forget the catalog memory
    # and resolve the whole batch again.
    run_retrying(
        lambda: _write(actor, commands, hard),
        on_retry=lambda: catalog_memory_forget(actor.project.token),
    )
