"""Anonymization: one service for every path (profile, API, bulk API, command line) and its jobs.

What anonymizing a customer means (as Exponea, made exact), for each customer, in one
transaction: every PII property is removed; **all** external IDs are removed and one fresh
random ``cookie`` is assigned; the PII attributes of each event type are removed from the
customer's events; ``anonymized_at`` is set; one ``anonymization`` system event (with its
``source``) and one audit event (internal ids only) are written. Non-PII properties and the
events themselves stay. An already anonymized customer is skipped: nothing changes and no
second event is tracked.

The work is set-based: a chunk of customers costs a constant number of statements (one
per table), never a statement per customer or per event. The only vendor-specific SQL is
:class:`JsonWithoutKeys` (PostgreSQL ``jsonb - text[]``, SQLite ``json_remove``).

Bulk work runs as an :class:`~customers.models.AnonymizationJob`: the request's IDs are
resolved to internal customer ids when the job is created (the job never stores an
external ID value), then :func:`anonymization_job_step` anonymizes one chunk and commits the
job's progress in the same transaction, so a worker killed at any moment leaves no
half-anonymized customer and the next run continues with the first pending item.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Case, Count, F, Field, Func, JSONField, Model, Q, QuerySet, When
from django.utils import timezone

from access.errors import DomainError, InvalidInput, NotFound
from access.models import AuditEvent
from access.permissions import Perm
from access.principal import Principal
from access.selectors import principal_for_api_key, principal_for_system, principal_for_user
from access.services import audit_record
from datamanager.catalog import PiiCatalog, catalog_load, catalog_lock
from datamanager.models import EventType
from datamanager.services import catalog_register_seen

from ..models import AnonymizationJob, AnonymizationJobItem, Customer, CustomerId, Event
from ..selectors import id_names
from ..validation import clean_ids

logger = logging.getLogger(__name__)

SYSTEM_EVENT_TYPE = "anonymization"
NEW_COOKIE_NAME = "cookie"
SOURCES = frozenset(AnonymizationJob.Source.values)
DEFAULT_CHUNK_SIZE = 1000


def chunk_size() -> int:
    """Customers per chunk (one transaction each); small enough to stay well under a minute."""
    return int(getattr(settings, "ANONYMIZATION_CHUNK_SIZE", DEFAULT_CHUNK_SIZE))


# Vendor-specific SQL: the only place ----------------------------------------------------------


class JsonWithoutKeys(Func):
    """``expression`` (a JSON object column) without the given top-level keys.

    PostgreSQL: ``jsonb - text[]`` (keys as parameters, matched as decoded text).
    SQLite: ``json_remove(col, '$."k"', ...)`` only for keys a JSON path matches there
    (:func:`sqlite_path_matches`); SQLite compares a path label with the key as *stored*,
    and Django stores ``příjmení`` as ``"p\\u0159\\u00edjmen\\u00ed"`` and ``a\\b`` as
    ``"a\\\\b"``, so such a path silently matched nothing and left the PII in place. For
    any other key the object is rebuilt from ``json_each``, whose ``key`` is the decoded
    name, without those keys (same result, slower, SQLite only).
    """

    output_field = JSONField()

    def __init__(self, expression: Any, keys: Iterable[str]) -> None:
        self.keys = sorted(set(keys))
        super().__init__(expression)

    def _column(self, compiler: Any) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return sql, tuple(params)

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = self._column(compiler)
        if not self.keys:
            return sql, params
        return f"({sql} - %s::text[])", (*params, self.keys)

    def as_sqlite(
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = self._column(compiler)
        if not self.keys:
            return sql, params
        if not all(sqlite_path_matches(key) for key in self.keys):
            marks = ", ".join(["%s"] * len(self.keys))
            # Only placeholders and the compiled column are interpolated; keys are params.
            rebuilt = (
                "(SELECT json_group_object(key, CASE type WHEN 'true' THEN json('true') "  # noqa: S608
                "WHEN 'false' THEN json('false') WHEN 'null' THEN json('null') ELSE value END) "
                f"FROM json_each({sql}) WHERE key NOT IN ({marks}))"
            )
            return rebuilt, (*params, *self.keys)
        marks = ", ".join(["%s"] * len(self.keys))
        return f"json_remove({sql}, {marks})", (*params, *(f'$."{k}"' for k in self.keys))

    def as_sql(  # type: ignore[override]  # pragma: no cover
        self, compiler: Any, connection: Any, **extra: Any
    ) -> Any:
        raise NotImplementedError(f"JsonWithoutKeys is not implemented for {connection.vendor}.")


def sqlite_path_matches(key: str) -> bool:
    """True if SQLite's ``$."key"`` path finds ``key`` as Django's JSONField stores it.

    Django writes JSON with ``ensure_ascii``: a key is stored verbatim only when it is
    printable ASCII without ``"`` and ``\\`` (anything else becomes an escape sequence the
    path would have to spell byte for byte). Inside a quoted label ``.``, ``$``, ``[`` and
    spaces are plain characters.
    """
    return key.isascii() and key.isprintable() and '"' not in key and "\\" not in key


def _events_with_any_key(names: Sequence[str]) -> Q:
    """Only rewrite events that hold a PII key (PostgreSQL ``?|``, served by the row itself).

    SQLite gets no guard: its JSON path syntax cannot name every key, and rewriting an
    event without the keys is harmless there.
    """
    if connection.vendor == "postgresql":
        return Q(properties__has_any_keys=list(names))
    return Q()


def random_token_sql() -> str:
    """SQL for 32 random hex characters from the database's strong random source."""
    if connection.vendor == "postgresql":
        return "replace(CAST(gen_random_uuid() AS TEXT), '-', '')"
    if connection.vendor == "sqlite":
        return "lower(hex(randomblob(16)))"
    raise NotImplementedError(f"No random token SQL for {connection.vendor}.")


def _insert_per_customer(
    model: type[Model], columns: Mapping[str, str], params: Sequence[Any], pks: Sequence[int]
) -> None:
    """``INSERT INTO model (columns) SELECT <expressions> FROM customer WHERE id IN pks``.

    ``columns`` maps a column to a SQL expression over the customer row (``id``) or
    ``%s``, filled from ``params`` in order, each prepared by the model field as an
    ordinary save would (JSON, datetimes).
    """
    prepared: list[Any] = []
    values = iter(params)
    for column, expression in columns.items():
        if expression == "%s":
            field = cast(Field, model._meta.get_field(column.removesuffix("_id")))
            prepared.append(field.get_db_prep_save(next(values), connection))
    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(columns.values())} FROM {Customer._meta.db_table} "
        f"WHERE id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*prepared, *pks])


# The service ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What to remove in one project, read fresh from the catalog (never a stale cache)."""

    catalog: PiiCatalog
    event_keys: Mapping[int, tuple[str, ...]]  # event type id -> PII attribute names
    system_event_type_id: int


def _plan_for(actor: Principal, source: str) -> _Plan:
    """The plan, read under the project's catalog lock (shared) that flag saves take
    exclusively: called after the customers are locked, it is the catalog as committed,
    and no flag can be saved until this transaction ends (docs/architecture.md)."""
    project = actor.project
    catalog_lock(project.pk, exclusive=False)
    catalog = catalog_load(project.pk)
    # Registers the system event type if an old project lacks it; constant queries.
    types = catalog_register_seen(project=project, events={SYSTEM_EVENT_TYPE: {"source": source}})
    names_by_type = {name: keys for name, keys in catalog.event_attributes.items() if keys}
    type_ids = dict(
        EventType.objects.filter(project=project, name__in=list(names_by_type)).values_list(
            "name", "pk"
        )
    )
    event_keys = {
        type_ids[name]: tuple(sorted(keys))
        for name, keys in names_by_type.items()
        if name in type_ids
    }
    return _Plan(
        catalog=catalog,
        event_keys=event_keys,
        system_event_type_id=types[SYSTEM_EVENT_TYPE].pk,
    )


def _clean_source(source: str) -> str:
    if source not in SOURCES:
        raise InvalidInput(f"Unknown anonymization source '{source}'.")
    return source


def _anonymize_chunk(
    *,
    actor: Principal,
    plan_after_lock: Callable[[], _Plan],
    customer_pks: Sequence[int],
    source: str,
    job: AnonymizationJob | None,
) -> list[int]:
    """Anonymize one chunk inside the caller's transaction; returns the ids anonymized now."""
    project = actor.project
    # Lock the customers (skipping the already anonymized) so a concurrent run of the same
    # chunk waits here and then finds nothing left to do: exactly one event per customer.
    pks = list(
        Customer.objects.select_for_update()
        .filter(project=project, pk__in=list(customer_pks), anonymized_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not pks:
        return []
    plan = plan_after_lock()  # the catalog as committed now, locked against flag saves
    now = timezone.now()
    pii_properties = plan.catalog.customer_properties
    # Outside the database, so a restored backup cannot bring these customers back.
    from .erasure_ledger import erasure_ledger_record

    erasure_ledger_record(project=project, customer_pks=pks, source=source)

    Customer.objects.filter(pk__in=pks).update(
        properties=JsonWithoutKeys("properties", pii_properties),
        property_timestamps=JsonWithoutKeys("property_timestamps", pii_properties),
        anonymized_at=now,
        updated_at=now,
    )

    CustomerId.objects.filter(customer_id__in=pks).delete()
    # The new IDs, events and audit rows are INSERT ... SELECT over the chunk's customers:
    # one statement each, no Python object per row.
    _insert_per_customer(
        CustomerId,
        {
            "project_id": "%s",
            "customer_id": "id",
            "name": "%s",
            "value": random_token_sql(),
            "created_at": "%s",
        },
        [project.pk, NEW_COOKIE_NAME, now],
        pks,
    )

    if plan.event_keys:
        all_keys = sorted({k for keys in plan.event_keys.values() for k in keys})
        Event.objects.filter(
            _events_with_any_key(all_keys),
            customer_id__in=pks,
            event_type_id__in=list(plan.event_keys),
        ).update(
            properties=Case(
                *[
                    When(event_type_id=type_id, then=JsonWithoutKeys("properties", keys))
                    for type_id, keys in plan.event_keys.items()
                ],
                default=F("properties"),
                output_field=JSONField(),
            )
        )

    _insert_per_customer(
        Event,
        {
            "project_id": "%s",
            "customer_id": "id",
            "event_type_id": "%s",
            "timestamp": "%s",
            "properties": "%s",
        },
        [project.pk, plan.system_event_type_id, now, {"source": source}],
        pks,
    )

    details: dict[str, Any] = {"source": source}
    if job is not None:
        details["job"] = job.pk
    # One audit event per customer, with the fields audit_record would write.
    _insert_per_customer(
        AuditEvent,
        {
            "project_id": "%s",
            "actor_user_id": "%s",
            "actor_api_key_id": "%s",
            "actor_label": "%s",
            "action": "%s",
            "target_type": "%s",
            "target_id": "CAST(id AS TEXT)",
            "details": "%s",
            "ip": "%s",
            "created_at": "%s",
        },
        [
            project.pk,
            actor.user.pk if actor.user is not None else None,
            actor.api_key.pk if actor.api_key is not None else None,
            actor.label[:200],
            "customer.anonymize",
            "customer",
            details,
            actor.ip,
            now,
        ],
        pks,
    )
    return pks


def _customer_pks(customers: Iterable[Customer | int]) -> list[int]:
    seen: dict[int, None] = {}
    for item in customers:
        pk = item.pk if isinstance(item, Customer) else int(item)
        seen[pk] = None
    return list(seen)


@transaction.atomic
def customer_anonymize(
    *,
    actor: Principal,
    customers: Iterable[Customer | int],
    source: str,
    job: AnonymizationJob | None = None,
) -> list[int]:
    """Anonymize ``customers`` of the actor's project; returns the ids anonymized now.

    Customers of another project and already anonymized ones are skipped (nothing changes,
    nothing is tracked). Atomic: all of them or none. Large sets belong in a job
    (:func:`anonymization_job_create`), which calls this once per chunk.
    """
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    source = _clean_source(source)
    pks = _customer_pks(customers)
    if not pks:
        return []
    plans: list[_Plan] = []

    def plan_after_lock() -> _Plan:
        # Read once, after the first chunk's customers are locked; the shared catalog lock
        # it takes holds until commit, so it stays the plan for every later chunk.
        if not plans:
            plans.append(_plan_for(actor, source))
        return plans[0]

    done: list[int] = []
    size = chunk_size()
    for start in range(0, len(pks), size):
        done += _anonymize_chunk(
            actor=actor,
            plan_after_lock=plan_after_lock,
            customer_pks=pks[start : start + size],
            source=source,
            job=job,
        )
    return done


@dataclass(frozen=True)
class AnonymizeOutcome:
    """What anonymizing one requested customer did."""

    customer_pk: int  # the customer that holds the requested person's data now
    anonymized_now: bool  # False: it was anonymized already
    merged_from: int | None = None  # the requested id, when it had been merged into this one


def _survivor_of(project: Any, customer_pk: int) -> int | None:
    """The customer that holds ``customer_pk``'s data now: itself, or where merges took it."""
    current = customer_pk
    for _ in range(20):
        if Customer.objects.filter(project=project, pk=current).exists():
            return current
        target = (
            AuditEvent.objects.filter(
                project=project, action="customer.merge", details__merged_customer=current
            )
            .order_by("-id")
            .values_list("target_id", flat=True)
            .first()
        )
        if target is None or not str(target).isdigit():
            return None
        current = int(target)
    return None


def _owner_of_ids(project: Any, ids: Mapping[str, str]) -> int | None:
    """As tracking would resolve them: a hard ID's customer wins over a soft ID's."""
    from ..selectors import customer_ids_matching

    matches = customer_ids_matching(project, ids)
    if not matches:
        return None
    hard = id_names(project)
    hits = sorted((not hard.get(name, False), name, cid) for (name, _), cid in matches.items())
    return hits[0][2]


def customer_anonymize_one(
    *,
    actor: Principal,
    source: str,
    customer_pk: int | None = None,
    ids: Mapping[str, str] | None = None,
) -> AnonymizeOutcome:
    """Anonymize one customer named by internal id or by IDs, and say what was done.

    The customer is locked, then what named it is checked again: a customer merged away
    meanwhile is followed to the one it was merged into (by IDs: where the IDs are now; by
    id: the merge's audit trail), and one that is gone raises :class:`NotFound`. Never a
    silent success that anonymized nobody.
    """
    from .tracking import StaleRead, lock_customers, run_retrying

    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    source = _clean_source(source)
    project = actor.project
    if (customer_pk is None) == (ids is None):
        raise InvalidInput("Name the customer by internal id or by IDs.")

    def find() -> int | None:
        if ids is not None:
            return _owner_of_ids(project, ids)
        assert customer_pk is not None
        return _survivor_of(project, customer_pk)

    def work() -> AnonymizeOutcome:
        pk = find()
        if pk is None:
            raise NotFound("Customer not found.")
        locked = lock_customers(project, [pk]).get(pk)
        if locked is None or find() != pk:
            raise StaleRead  # merged away between the read and the lock: follow it
        done = customer_anonymize(actor=actor, customers=[pk], source=source)
        return AnonymizeOutcome(
            customer_pk=pk,
            anonymized_now=bool(done),
            merged_from=customer_pk if customer_pk is not None and customer_pk != pk else None,
        )

    return run_retrying(work)


# What the confirmation shows ----------------------------------------------------------------


@dataclass(frozen=True)
class AnonymizationPreview:
    """What anonymizing one customer will remove: names and counts, never a value."""

    customer: Customer
    properties: tuple[str, ...]  # PII property names the customer has
    id_names: tuple[tuple[str, int], ...]  # (ID name, how many values)
    events: tuple[tuple[str, str, int], ...]  # (event type, attribute, events holding it)

    @property
    def id_count(self) -> int:
        return sum(n for _, n in self.id_names)

    @property
    def already_anonymized(self) -> bool:
        return self.customer.anonymized_at is not None


def anonymization_preview(*, actor: Principal, customer: Customer) -> AnonymizationPreview:
    """Names of what :func:`customer_anonymize` would remove from ``customer`` (two queries)."""
    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    if customer.project_id != actor.project.pk:
        raise NotFound("Customer not found.")
    catalog = catalog_load(actor.project.pk)
    properties = tuple(sorted(set(customer.properties) & catalog.customer_properties))
    id_rows = (
        CustomerId.objects.filter(customer=customer)
        .values("name")
        .annotate(n=Count("id"))
        .order_by("name")
    )
    pairs = [
        (type_name, attr)
        for type_name, attrs in sorted(catalog.event_attributes.items())
        for attr in sorted(attrs)
    ]
    events: list[tuple[str, str, int]] = []
    if pairs:
        counts = Event.objects.filter(customer=customer).aggregate(
            **{
                f"n{i}": Count("id", filter=Q(event_type__name=type_name, properties__has_key=attr))
                for i, (type_name, attr) in enumerate(pairs)
            }
        )
        events = [
            (type_name, attr, counts[f"n{i}"])
            for i, (type_name, attr) in enumerate(pairs)
            if counts[f"n{i}"]
        ]
    return AnonymizationPreview(
        customer=customer,
        properties=properties,
        id_names=tuple((row["name"], row["n"]) for row in id_rows),
        events=tuple(events),
    )


# Jobs --------------------------------------------------------------------------------------------


def anonymization_entries_resolve(
    *, project: Any, entries: Sequence[Mapping[str, Any]]
) -> list[int | None]:
    """Resolve bulk entries to internal customer ids (``None`` = not found), by position.

    Each entry is ``{"customer_ids": {name: value}}`` or ``{"internal_id": "123"}``; shapes
    are checked first and an error names the position, never a value. Lookups are one query
    per ID name, whatever the number of entries.
    """
    known = id_names(project)
    parsed: list[dict[str, str] | int | None] = []
    for position, entry in enumerate(entries):
        where = f"customers[{position}]"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{where} must be an object.")
        keys = set(entry)
        if keys == {"customer_ids"}:
            try:
                parsed.append(clean_ids(entry["customer_ids"], known=known))
            except DomainError as exc:
                raise type(exc)(f"{where}: {exc.message}") from exc
        elif keys == {"internal_id"}:
            raw = entry["internal_id"]
            text = str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
            if not text.isdigit() or len(text) > 19:
                parsed.append(None)  # a well-formed request naming nobody we know
            else:
                parsed.append(int(text))
        else:
            raise InvalidInput(f"{where} must have exactly one of 'customer_ids' or 'internal_id'.")

    by_name: dict[str, set[str]] = {}
    for item in parsed:
        if isinstance(item, dict):
            for name, value in item.items():
                by_name.setdefault(name, set()).add(value)
    owners: dict[tuple[str, str], int] = {}
    for name, values in by_name.items():
        rows = CustomerId.objects.filter(
            project=project, name=name, value__in=sorted(values)
        ).values_list("value", "customer_id")
        owners.update({(name, value): cid for value, cid in rows})
    internal = {i for i in parsed if isinstance(i, int)}
    existing = set(
        Customer.objects.filter(project=project, pk__in=sorted(internal)).values_list(
            "pk", flat=True
        )
    )

    resolved: list[int | None] = []
    for item in parsed:
        if isinstance(item, dict):
            # As tracking would: a hard ID's customer wins over a soft ID's.
            hits = sorted(
                (not known.get(name, False), name, owners[(name, value)])
                for name, value in item.items()
                if (name, value) in owners
            )
            resolved.append(hits[0][2] if hits else None)
        elif isinstance(item, int):
            resolved.append(item if item in existing else None)
        else:
            resolved.append(None)
    return resolved


def _insert_items(job: AnonymizationJob, customers: QuerySet[Customer] | Sequence[int]) -> None:
    """One item per existing customer, the customers share-locked while the items go in.

    ``FOR KEY SHARE`` (PostgreSQL) makes a concurrent merge that deletes one of them wait
    for this commit (and then move the item to its survivor, as merges do), and skips a
    customer whose delete committed first: no foreign-key violation, no 500.
    """
    table = AnonymizationJobItem._meta.db_table
    customer_table = Customer._meta.db_table
    lock = " FOR KEY SHARE OF c" if connection.vendor == "postgresql" else ""
    if isinstance(customers, QuerySet):
        # INSERT ... SELECT: millions of matching customers never pass through Python.
        sql, params = customers.order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (job_id, customer_id, done) "  # noqa: S608
                f"SELECT %s, c.id, %s FROM {customer_table} c "
                f"WHERE c.project_id = %s AND c.id IN ({sql}){lock}",
                [job.pk, False, job.project_id, *params],
            )
        return
    unique = list(dict.fromkeys(customers))
    for start in range(0, len(unique), 2000):
        part = unique[start : start + 2000]
        marks = ", ".join(["%s"] * len(part))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (job_id, customer_id, done) "  # noqa: S608
                f"SELECT %s, c.id, %s FROM {customer_table} c "
                f"WHERE c.project_id = %s AND c.id IN ({marks}){lock}",
                [job.pk, False, job.project_id, *part],
            )


IDEMPOTENCY_WINDOW_SECONDS = 10 * 60
_JOB_CREATE_LOCK = 0x4A4F4243  # "JOBC": pg_advisory_xact_lock(namespace, project)


def anonymization_request_key(*, actor: Principal, source: str, request: Any) -> str:
    """A keyed hash of who asks for what (HMAC with SECRET_KEY: the IDs or filter values in
    ``request`` cannot be guessed back from it). Equal for a double-submitted request."""
    import hashlib
    import hmac
    import json

    principal = (
        f"user:{actor.user.pk}"
        if actor.user is not None
        else f"key:{actor.api_key.pk}"
        if actor.api_key is not None
        else f"system:{actor.label}"
    )
    message = json.dumps(
        [actor.project.pk, principal, source, request], sort_keys=True, default=str
    ).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _recent_job_with_key(actor: Principal, request_key: str) -> AnonymizationJob | None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [_JOB_CREATE_LOCK, actor.project.pk & 0x7FFFFFFF],
            )
    since = timezone.now() - timedelta(seconds=IDEMPOTENCY_WINDOW_SECONDS)
    return (
        AnonymizationJob.objects.filter(
            project=actor.project, request_key=request_key, created_at__gte=since
        )
        .exclude(status=AnonymizationJob.Status.FAILED)
        .order_by("-created_at", "-id")
        .first()
    )


def anonymization_job_create(
    *,
    actor: Principal,
    source: str,
    customers: QuerySet[Customer] | Sequence[int],
    not_found: Sequence[int] = (),
    start: bool = True,
    request_key: str = "",
) -> AnonymizationJob:
    """Create a job over internal customer ids (or a queryset) and queue it after commit.

    ``not_found`` holds positions of request entries that named no customer. The job
    stores internal ids only. ``start=False`` leaves it queued without a Celery message
    (the command line runs it itself; tests send the message to a real worker).
    ``request_key`` (:func:`anonymization_request_key`): a job created with the same key
    in the last ten minutes, not failed, is returned instead of a new one (a double submit
    shows the first job; ``job.reused`` is True then).
    """
    from .tracking import run_retrying

    actor.require(Perm.ANONYMIZE_CUSTOMERS)
    source = _clean_source(source)
    return run_retrying(
        lambda: _job_create(
            actor=actor,
            source=source,
            customers=customers,
            not_found=not_found,
            start=start,
            request_key=request_key,
        )
    )


def _job_create(
    *,
    actor: Principal,
    source: str,
    customers: QuerySet[Customer] | Sequence[int],
    not_found: Sequence[int],
    start: bool,
    request_key: str,
) -> AnonymizationJob:
    if request_key:
        existing = _recent_job_with_key(actor, request_key)
        if existing is not None:
            existing.reused = True  # type: ignore[attr-defined]
            return existing
    job = AnonymizationJob.objects.create(
        project=actor.project,
        requested_by_user=actor.user,
        requested_by_api_key=actor.api_key,
        requested_by_label=actor.label[:200],
        source=source,
        not_found=sorted(set(not_found)),
        request_key=request_key,
    )
    if isinstance(customers, QuerySet):
        _insert_items(job, customers)
    else:
        # A customer merged away since the request was resolved (before or while the
        # items go in) is followed to the customer it was merged into; one that is gone
        # entirely is simply not an item.
        wanted = list(dict.fromkeys(int(pk) for pk in customers))
        for _ in range(5):
            _insert_items(job, wanted)
            have = set(
                AnonymizationJobItem.objects.filter(job=job).values_list("customer_id", flat=True)
            )
            survivors = {_survivor_of(actor.project, pk) for pk in wanted if pk not in have}
            wanted = [pk for pk in survivors if pk is not None and pk not in have]
            if not wanted:
                break
    job.total = AnonymizationJobItem.objects.filter(job=job).count()
    job.save(update_fields=["total"])
    audit_record(
        actor=actor,
        action="anonymization_job.create",
        target_type="anonymization_job",
        target_id=job.pk,
        details={
            "public_id": str(job.public_id),
            "source": source,
            "total": job.total,
            "not_found": len(job.not_found),
        },
    )
    if start:
        job_pk = job.pk
        transaction.on_commit(lambda: anonymization_job_enqueue(job_id=job_pk))
    job.reused = False  # type: ignore[attr-defined]
    return job


# Flags added later ----------------------------------------------------------------------------


def on_pii_flagged(*, project: Any, actor: Principal, attributes: Sequence[str], **_: Any) -> None:
    """A catalog save flagged ``attributes`` as PII: customers anonymized before it still
    hold them, so queue a job (in the save's transaction) that removes them.

    The items are every anonymized customer of the project, read after the save took the
    catalog lock exclusively: an anonymization still running has committed by then, and
    one starting later reads the new catalog itself.
    """
    anonymized = Customer.objects.filter(project=project, anonymized_at__isnull=False)
    if not anonymized.exists():
        return
    job = AnonymizationJob.objects.create(
        project=project,
        requested_by_user=actor.user,
        requested_by_api_key=actor.api_key,
        requested_by_label=actor.label[:200],
        source=AnonymizationJob.Source.CATALOG,
    )
    _insert_items(job, anonymized)
    job.total = AnonymizationJobItem.objects.filter(job=job).count()
    job.save(update_fields=["total"])
    audit_record(
        actor=actor,
        action="anonymization_job.create",
        target_type="anonymization_job",
        target_id=job.pk,
        details={
            "public_id": str(job.public_id),
            "source": AnonymizationJob.Source.CATALOG,
            "total": job.total,
            "attributes": list(attributes),
        },
    )
    job_pk = job.pk
    transaction.on_commit(lambda: anonymization_job_enqueue(job_id=job_pk))


def anonymized_pii_remove(
    *, actor: Principal, customers: Iterable[Customer | int], job: AnonymizationJob | None = None
) -> list[int]:
    """Remove what the catalog flags as PII now from customers anonymized earlier.

    Same order as anonymization: customers locked (ascending id), then the plan under the
    shared catalog lock. Customers that are not anonymized are left alone (their own
    anonymization will use the catalog then). One ``customer.pii_removed`` audit event each.
    """
    project = actor.project
    pks = list(
        Customer.objects.select_for_update()
        .filter(project=project, pk__in=_customer_pks(customers), anonymized_at__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not pks:
        return []
    plan = _plan_for(actor, AnonymizationJob.Source.CATALOG)
    props = plan.catalog.customer_properties
    if props:
        Customer.objects.filter(pk__in=pks).update(
            properties=JsonWithoutKeys("properties", props),
            property_timestamps=JsonWithoutKeys("property_timestamps", props),
        )
    if plan.event_keys:
        all_keys = sorted({k for keys in plan.event_keys.values() for k in keys})
        Event.objects.filter(
            _events_with_any_key(all_keys),
            customer_id__in=pks,
            event_type_id__in=list(plan.event_keys),
        ).update(
            properties=Case(
                *[
                    When(event_type_id=type_id, then=JsonWithoutKeys("properties", keys))
                    for type_id, keys in plan.event_keys.items()
                ],
                default=F("properties"),
                output_field=JSONField(),
            )
        )
    details: dict[str, Any] = {"source": AnonymizationJob.Source.CATALOG}
    if job is not None:
        details["job"] = job.pk
    _insert_per_customer(
        AuditEvent,
        {
            "project_id": "%s",
            "actor_user_id": "%s",
            "actor_api_key_id": "%s",
            "actor_label": "%s",
            "action": "%s",
            "target_type": "%s",
            "target_id": "CAST(id AS TEXT)",
            "details": "%s",
            "ip": "%s",
            "created_at": "%s",
        },
        [
            project.pk,
            actor.user.pk if actor.user is not None else None,
            actor.api_key.pk if actor.api_key is not None else None,
            actor.label[:200],
            "customer.pii_removed",
            "customer",
            details,
            actor.ip,
            timezone.now(),
        ],
        pks,
    )
    return pks


# With the broker down, a job up to this size runs in the request that created it; a larger
# one stays queued (resumable with `anonymize_customers --resume`), never lost or half-done.
IN_PROCESS_FALLBACK_MAX = 5000


def anonymization_job_enqueue(*, job_id: int) -> None:
    """Send the job's id (and nothing else) to the Celery queue; eager without a broker.

    If the broker cannot be reached the job is already committed, so the request must not
    fail: a small job runs in-process, a large one waits, and either way a warning says so.
    """
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from ..tasks import anonymization_job_run

    try:
        anonymization_job_run.delay(job_id)
    except BrokerUnavailable:
        row = AnonymizationJob.objects.filter(pk=job_id).values_list("total", "public_id").first()
        total, public_id = row if row is not None else (None, None)
        if total is not None and total <= IN_PROCESS_FALLBACK_MAX:
            logger.warning(
                "Celery broker unreachable: running anonymization job %s (%s customers) in-process.",
                job_id,
                total,
            )
            anonymization_job_run_all(job_id=job_id)
        else:
            logger.warning(
                "Celery broker unreachable: anonymization job %s stays queued; resume it with "
                "`manage.py anonymize_customers --project TOKEN --resume %s` or when the broker "
                "is back.",
                job_id,
                public_id,
            )


def _job_principal(job: AnonymizationJob) -> Principal:
    """The requester, with permissions as they are now (a revoked key stops its job)."""
    if job.requested_by_user is not None:
        try:
            return principal_for_user(job.requested_by_user, job.project)
        except NotFound as exc:
            raise NotFound("The requester is no longer a member of the project.") from exc
    if job.requested_by_api_key is not None:
        key = job.requested_by_api_key
        if not key.is_active:
            raise NotFound("The API key that requested this job has been revoked.")
        return principal_for_api_key(key)
    return principal_for_system(job.project, label=job.requested_by_label or "system")


def anonymization_job_step(*, job_id: int, size: int | None = None) -> bool:
    """Anonymize the job's next chunk and commit its progress with it; False when finished.

    Idempotent: a chunk whose transaction was lost (worker killed) is simply done again,
    and one that committed is never picked again. Domain errors (the requester lost the
    permission) and unexpected errors mark the job failed with a message holding no value.
    """
    size = size or chunk_size()
    try:
        with transaction.atomic():
            job = (
                AnonymizationJob.objects.select_for_update(of=("self",))
                .select_related("project", "requested_by_user", "requested_by_api_key")
                .get(pk=job_id)
            )
            if job.status in (AnonymizationJob.Status.DONE, AnonymizationJob.Status.FAILED):
                return False
            now = timezone.now()
            fields = ["done", "status", "finished_at"]
            if job.status == AnonymizationJob.Status.QUEUED:
                job.status = AnonymizationJob.Status.RUNNING
                job.started_at = now
                fields.append("started_at")
            items = list(
                AnonymizationJobItem.objects.filter(job=job, done=False)
                .order_by("id")
                .values_list("id", "customer_id")[:size]
            )
            if items and job.source == AnonymizationJob.Source.CATALOG:
                # A flag change's clean-up: the product does it, whoever saved the flag.
                anonymized_pii_remove(
                    actor=principal_for_system(job.project, label=job.requested_by_label),
                    customers=[cid for _, cid in items if cid is not None],
                    job=job,
                )
            elif items:
                actor = _job_principal(job)
                customer_anonymize(
                    actor=actor,
                    customers=[cid for _, cid in items if cid is not None],
                    source=job.source,
                    job=job,
                )
            if items:
                # The chunk is every pending item up to the last one read (we hold the job's
                # lock, so nobody else marks items): no id list to send back.
                AnonymizationJobItem.objects.filter(
                    job=job, done=False, pk__lte=items[-1][0]
                ).update(done=True)
                job.done = min(job.total, job.done + len(items))
            if (
                len(items) < size
                and not AnonymizationJobItem.objects.filter(job=job, done=False).exists()
            ):
                job.status = AnonymizationJob.Status.DONE
                job.finished_at = now
                job.done = job.total
            job.save(update_fields=fields)
            return job.status != AnonymizationJob.Status.DONE
    except OperationalError:
        raise  # the database went away: let Celery retry; nothing of this chunk committed
    except DomainError as exc:
        _job_fail(job_id, exc.message)
    except Exception as exc:
        # The message may quote stored data (a database error names values): log the type.
        logger.error("Anonymization job %s failed: %s", job_id, type(exc).__name__)
        _job_fail(job_id, f"Internal error ({type(exc).__name__}); see the worker log.")
    return False


def _job_fail(job_id: int, message: str) -> None:
    AnonymizationJob.objects.filter(pk=job_id).exclude(status=AnonymizationJob.Status.DONE).update(
        status=AnonymizationJob.Status.FAILED, error=message[:500], finished_at=timezone.now()
    )


def anonymization_job_run_all(*, job_id: int, size: int | None = None) -> AnonymizationJob:
    """Process every remaining chunk in this process (eager mode, the command line)."""
    while anonymization_job_step(job_id=job_id, size=size):
        pass
    return AnonymizationJob.objects.get(pk=job_id)
