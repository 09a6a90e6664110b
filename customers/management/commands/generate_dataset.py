"""Bulk-load realistic customers, their IDs and events with PostgreSQL ``COPY`` (benchmarks).

``manage.py generate_dataset --project TOKEN --customers 1000000 --events-per-customer 5``

This is a loader for benchmarks and capacity tests, not a tracking path: it writes rows
straight into the customer tables with psycopg 3's ``cursor.copy`` (about 1 M customers
and 5 M events in a few minutes on a 2-core machine). It still leaves the database the
way tracking would: every customer has a ``registered`` (e-mail) and a ``cookie`` ID, the
catalog knows every ID, property, event type and event attribute (registered once through
``datamanager.services.catalog_register_seen`` with sample values), tables are VACUUMed
and ANALYZEd afterwards, and one ``dataset.generate`` audit event records the run (counts only).

PostgreSQL only: on any other database the command stops with a clear error, because the
portable ORM path (``bulk_create``) is two orders of magnitude slower at this size and
benchmarks on SQLite would not say anything about production.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from tqdm import tqdm

from access.errors import NotFound
from access.models import Project
from access.selectors import principal_for_system, project_by_token
from access.services import audit_record
from customers.demo import (
    BROWSERS,
    CITIES,
    FIRST_NAMES,
    LAST_NAMES,
    PAGES,
    PLANS,
    PRODUCTS,
    STREETS,
)
from customers.models import Customer, CustomerId, Event
from datamanager.services import catalog_register_seen

DAY = 24 * 3600
# Event mix of a shop: mostly page visits, some sessions, a few purchases.
EVENT_WEIGHTS = (("page_visit", 0.62), ("session_start", 0.26), ("purchase", 0.12))

# One sample value per name: what the catalog would have inferred from the first tracking.
SAMPLE_PROPERTIES: dict[str, Any] = {
    "email": "anna.novak.1@example.com",
    "phone": "+421 900 123 456",
    "first_name": "Anna",
    "last_name": "Novak",
    "birth_date": "1990-01-31",
    "city": "Bratislava",
    "country": "SK",
    "plan": "basic",
    "newsletter": True,
    "lifetime_value": 0.0,
}
SAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "session_start": {"browser": "Chrome", "cookie_index": 0},
    "page_visit": {"url": "https://shop.example.com/", "ip": "192.0.2.1"},
    "purchase": {
        "total": 89.0,
        "currency": "EUR",
        "items": ["Running shoes"],
        "shipping_address": "1 Main St, Bratislava",
        "card_last4": "0000",
    },
}


@dataclass(frozen=True)
class DatasetCounts:
    customers: int
    customer_ids: int
    events: int
    seconds: float


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format (backslash first, then the separators)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


class _ChunkWriter:
    """Generate one chunk of customers (deterministic per seed and id) as COPY text."""

    def __init__(
        self,
        *,
        project_id: int,
        type_ids: dict[str, int],
        events_per_customer: int,
        now: float,
        days: int,
        seed: int,
    ) -> None:
        self.project_id = project_id
        self.type_ids = type_ids
        self.events_per_customer = events_per_customer
        self.now = now
        self.span = days * DAY
        self.rng = random.Random(seed)
        self.dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
        # Cumulative weights, looked up with one random() per event.
        total = 0.0
        self.cumulative: list[tuple[float, str]] = []
        for name, weight in EVENT_WEIGHTS:
            total += weight
            self.cumulative.append((total, name))

    def _pick_type(self, r: float) -> str:
        for bound, name in self.cumulative:
            if r < bound:
                return name
        return self.cumulative[-1][1]

    def chunk(self, first_id: int, count: int) -> tuple[list[str], list[str], list[str]]:
        """COPY lines for customers ``first_id .. first_id+count-1``, their IDs and events."""
        rng = self.rng
        rand = rng.random
        dumps = self.dumps
        pid = self.project_id
        customers: list[str] = []
        ids: list[str] = []
        events: list[str] = []
        for cid in range(first_id, first_id + count):
            first = FIRST_NAMES[int(rand() * len(FIRST_NAMES))]
            last = LAST_NAMES[int(rand() * len(LAST_NAMES))]
            city, country = CITIES[int(rand() * len(CITIES))]
            # The internal id makes the e-mail unique in the project even across runs.
            email = f"{first}.{last}.{cid}@example.com".lower()
            cookie = f"ck-{cid}-{rng.getrandbits(48):012x}"
            created = self.now - (0.02 + 0.98 * rand()) * self.span
            ip = f"{11 + int(rand() * 212)}.{int(rand() * 256)}.{int(rand() * 256)}.{1 + int(rand() * 254)}"
            lifetime_value = 0.0
            last_seen = created
            for _ in range(self.events_per_customer):
                name = self._pick_type(rand())
                at = created + rand() * (self.now - created)
                last_seen = max(last_seen, at)
                if name == "page_visit":
                    props: dict[str, Any] = {
                        "url": "https://shop.example.com" + PAGES[int(rand() * len(PAGES))],
                        "ip": ip,
                    }
                elif name == "session_start":
                    props = {"browser": BROWSERS[int(rand() * len(BROWSERS))], "cookie_index": 0}
                else:
                    picked = rng.sample(PRODUCTS, 1 + int(rand() * 3))
                    total = round(sum(price for _, price in picked), 2)
                    lifetime_value += total
                    props = {
                        "total": total,
                        "currency": "EUR",
                        "items": [product for product, _ in picked],
                        "shipping_address": f"{1 + int(rand() * 120)} {STREETS[int(rand() * len(STREETS))]}, {city}",
                        "card_last4": f"{int(rand() * 10000):04d}",
                    }
                events.append(
                    f"{pid}\t{cid}\t{self.type_ids[name]}\t{_ts(at)}\t{_copy_text(dumps(props))}\n"
                )
            properties = {
                "email": email,
                "phone": f"+421 9{int(rand() * 100):02d} {100 + int(rand() * 900)} {100 + int(rand() * 900)}",
                "first_name": first,
                "last_name": last,
                "birth_date": f"{1950 + int(rand() * 56)}-{1 + int(rand() * 12):02d}-{1 + int(rand() * 28):02d}",
                "city": city,
                "country": country,
                "plan": PLANS[int(rand() * len(PLANS))],
                "newsletter": rand() < 0.55,
                "lifetime_value": round(lifetime_value, 2),
            }
            stamp = round(created, 3)
            stamps = dumps(dict.fromkeys(properties, stamp))
            created_s, updated_s = _ts(created), _ts(last_seen)
            customers.append(
                f"{cid}\t{pid}\t{_copy_text(dumps(properties))}\t{stamps}\t{created_s}\t{updated_s}\n"
            )
            ids.append(f"{pid}\t{cid}\tregistered\t{_copy_text(email)}\t{created_s}\n")
            ids.append(f"{pid}\t{cid}\tcookie\t{cookie}\t{created_s}\n")
        return customers, ids, events


def _reserve_customer_ids(count: int) -> int:
    """Take ``count`` consecutive customer ids from the sequence; returns the first.

    The EXCLUSIVE lock makes concurrent inserts wait until the sequence has moved past
    the range, so nobody else can be handed an id inside it.
    """
    table = Customer._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [sequence])
        first = int(cursor.fetchone()[0])
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def _is_superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


def _copy(cursor: Any, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    if not lines:
        return
    cols = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
        # Big writes: psycopg sends them as they are, one round trip per ~MB.
        step = 20_000
        for i in range(0, len(lines), step):
            copy.write("".join(lines[i : i + step]))


def generate_dataset(
    *,
    project: Project,
    customers: int,
    events_per_customer: int,
    seed: int = 2026,
    days: int = 365,
    chunk_size: int = 20_000,
    progress: bool = True,
) -> DatasetCounts:
    """Load ``customers`` customers with two IDs and ``events_per_customer`` events each.

    Each chunk is its own transaction, so a long run shows progress and keeps WAL and
    memory bounded; the catalog is registered before the first chunk, so a reader never
    meets a name the Data manager does not know.
    """
    if connection.vendor != "postgresql":
        raise CommandError(
            "generate_dataset loads data with PostgreSQL COPY; point DATABASE_URL at "
            f"PostgreSQL (this database is {connection.vendor}). For a small demo on "
            "SQLite use `manage.py seed_demo`."
        )
    if customers < 0 or events_per_customer < 0:
        raise CommandError("--customers and --events-per-customer must be zero or more.")
    started = time.monotonic()
    with transaction.atomic():
        types = catalog_register_seen(
            project=project,
            id_names=["registered", "cookie"],
            customer_properties=SAMPLE_PROPERTIES,
            events=SAMPLE_EVENTS,
        )
    writer = _ChunkWriter(
        project_id=project.pk,
        type_ids={name: t.pk for name, t in types.items()},
        events_per_customer=events_per_customer,
        now=time.time(),
        days=days,
        seed=seed,
    )
    first_id = _reserve_customer_ids(customers) if customers else 0
    customer_cols = (
        "id",
        "project_id",
        "properties",
        "property_timestamps",
        "created_at",
        "updated_at",
    )
    id_cols = ("project_id", "customer_id", "name", "value", "created_at")
    event_cols = ("project_id", "customer_id", "event_type_id", "timestamp", "properties")
    n_ids = n_events = 0
    skip_fk_triggers = _is_superuser()
    offsets = list(range(0, customers, chunk_size))

    def make(offset: int) -> tuple[int, tuple[list[str], list[str], list[str]]]:
        count = min(chunk_size, customers - offset)
        return count, writer.chunk(first_id + offset, count)

    # One thread generates the next chunk while this one waits for PostgreSQL to take the
    # current one: COPY waits on the server with the GIL released, so the two overlap.
    with (
        tqdm(
            total=customers,
            desc="Customers",
            unit="customer",
            unit_scale=True,
            disable=not progress,
        ) as bar,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        pending = pool.submit(make, offsets[0]) if offsets else None
        for index in range(len(offsets)):
            assert pending is not None
            count, (rows, ids, events) = pending.result()
            pending = pool.submit(make, offsets[index + 1]) if index + 1 < len(offsets) else None
            with transaction.atomic(), connection.cursor() as django_cursor:
                raw = django_cursor.cursor  # the psycopg 3 cursor, which has .copy()
                if skip_fk_triggers:
                    # As pg_restore --disable-triggers: every foreign key here is valid by
                    # construction (reserved ids, registered types), so skip 3 checks a row.
                    raw.execute("SET LOCAL session_replication_role = replica")
                _copy(raw, Customer._meta.db_table, customer_cols, rows)
                _copy(raw, CustomerId._meta.db_table, id_cols, ids)
                _copy(raw, Event._meta.db_table, event_cols, events)
                if skip_fk_triggers:
                    # Inside an outer transaction (tests) SET LOCAL would outlive this block.
                    raw.execute("SET LOCAL session_replication_role = DEFAULT")
            n_ids += len(ids)
            n_events += len(events)
            bar.update(count)
    # VACUUM also sets the visibility map, so index-only scans work at once (as they would
    # after autovacuum on a live system); it cannot run inside a transaction (tests).
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for model in (Customer, CustomerId, Event):
            cursor.execute(f'{command} "{model._meta.db_table}"')
    counts = DatasetCounts(
        customers=customers,
        customer_ids=n_ids,
        events=n_events,
        seconds=round(time.monotonic() - started, 1),
    )
    audit_record(
        actor=principal_for_system(project, label="generate_dataset"),
        action="dataset.generate",
        target_type="project",
        target_id=project.pk,
        details={
            "customers": counts.customers,
            "customer_ids": counts.customer_ids,
            "events": counts.events,
            "first_customer_id": first_id,
            "seed": seed,
        },
    )
    return counts


class Command(BaseCommand):
    help = (
        "Bulk-load N realistic customers (registered + cookie IDs) with M events each "
        "through PostgreSQL COPY, register the catalog, ANALYZE. For benchmarks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project token (uuid).")
        parser.add_argument("--customers", type=int, required=True, help="How many customers.")
        parser.add_argument(
            "--events-per-customer", type=int, default=5, help="Events per customer (default 5)."
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")
        parser.add_argument(
            "--days", type=int, default=365, help="History spread over this many days (365)."
        )
        parser.add_argument(
            "--chunk-size", type=int, default=20_000, help="Customers per COPY transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = project_by_token(options["project"])
        except NotFound as exc:
            raise CommandError(f"No project with token {options['project']!r}.") from exc
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        counts = generate_dataset(
            project=project,
            customers=options["customers"],
            events_per_customer=options["events_per_customer"],
            seed=options["seed"],
            days=options["days"],
            chunk_size=options["chunk_size"],
            progress=options["verbosity"] > 0,
        )
        rate = counts.customers / counts.seconds if counts.seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {counts.customers} customers, {counts.customer_ids} IDs and "
                f"{counts.events} events into '{project.name}' in {counts.seconds} s "
                f"({rate:,.0f} customers/s)."
            )
        )
