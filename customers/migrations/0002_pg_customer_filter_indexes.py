"""PostgreSQL-only indexes the customer filter needs at a million customers.

1. Expression indexes on the most filtered customer properties, on exactly the
   expression the filter emits (``customers.filters.JsonTypedValue``), followed by the id:
   an equality or range condition on the property plus keyset pagination by id is one
   index range scan, and ANALYZE keeps statistics on the expression, so the planner's
   row estimate (the "about 1.2 M" total) is right instead of a flat 0.5 % guess that
   made the list fall back to an exact COUNT over every customer.
2. ``(event_type_id, timestamp) INCLUDE (customer_id)`` on events: "has done purchase in
   the last 30 days" reads only the index range of that type and period.

Indexes are built CONCURRENTLY (no write lock on a live database), hence non-atomic.
Other databases (SQLite, the embedded default) get nothing: the filter works without
them there, only slower at sizes SQLite is not meant for. To index another property,
copy a line of ``PROPERTY_INDEXES`` into a new migration (see docs/scaling.md).
"""

from django.db import migrations

# (index name, property key, JSON type, SQL cast) — the cast and type as JsonTypedValue.
PROPERTY_INDEXES = [
    ("customer_prop_plan", "plan", "string", ""),
    ("customer_prop_city", "city", "string", ""),
    ("customer_prop_country", "country", "string", ""),
    ("customer_prop_lifetime_value", "lifetime_value", "number", "::double precision"),
]
EVENT_INDEX = "event_type_time_customer"


def _expression(key: str, json_type: str, cast: str) -> str:
    return (
        f"(CASE WHEN jsonb_typeof(properties -> '{key}') = '{json_type}' "
        f"THEN (properties ->> '{key}'){cast} END)"
    )


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, key, json_type, cast in PROPERTY_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON customers_customer "
            f"(project_id, {_expression(key, json_type, cast)}, id)"
        )
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {EVENT_INDEX} ON customers_event "
        '(event_type_id, "timestamp") INCLUDE (customer_id)'
    )
    # Statistics on the new expressions, so estimates are right from the first request.
    schema_editor.execute("ANALYZE customers_customer")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, *_ in PROPERTY_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {EVENT_INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
