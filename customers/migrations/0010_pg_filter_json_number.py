"""PostgreSQL only: ``filter_json_number(properties, key)``, an event attribute's number as
the filter compares it (issue 14 item 3).

``properties[key]`` as double precision when it is a JSON number within its range, else
NULL. The plain ``(properties ->> key)::double precision`` raises "out of range" for a
JSON integer of 309 digits or more (tracking accepts any integer) or a number under
1e-308, so it cannot be the expression of an index on the events: one such event would make its own insert fail.
A JSON number's text (``->>``, PostgreSQL's numeric output, never exponent notation) of at
most 308 characters is within double precision's range (under 1e308, and 0 or at least
1e-306), so the guard is one length check per row; a longer one (beyond the double range
but for its last decade) is NULL.
This function never raises, is IMMUTABLE (index-safe) and is what both the filter's event
``where`` on a number (``customers/filters/sql.py``) and an event attribute's filter index
(``datamanager/event_indexes.py``) compute, so the planner can use the index.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION filter_json_number(doc jsonb, key text) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(doc -> key) = 'number' AND length(doc ->> key) <= 308
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
