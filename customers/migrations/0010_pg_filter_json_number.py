"""PostgreSQL only: ``filter_json_number(properties, key)``, an event attribute's number as
the filter compares it (issue 14 item 3).

``properties[key]`` as double precision when it is a JSON number within its range, else
NULL. The plain ``(properties ->> key)::double precision`` raises "out of range" for a
JSON integer of 309 digits or more (tracking accepts any integer) or a number under
1e-308 (a denormal under 1e-307 is NULL here too), so it cannot be the
expression of an index on the events: one such event would make its own insert fail.
This function never raises, is IMMUTABLE (index-safe) and is what both the filter's event
``where`` on a number (``customers/filters/sql.py``) and an event attribute's filter index
(``datamanager/event_indexes.py``) compute, so the planner can use the index.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION filter_json_number(doc jsonb, key text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(doc -> key) = 'number'
                 AND (abs((doc -> key)::numeric) BETWEEN 1e-307 AND 1.7976931348623157e308
                      OR (doc -> key)::numeric = 0)
           THEN (doc ->> key)::double precision END
$$
"""
DROP = "DROP FUNCTION IF EXISTS filter_json_number(jsonb, text)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0009_drop_fk_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
