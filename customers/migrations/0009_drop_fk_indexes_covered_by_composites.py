"""Drop the single-column foreign-key indexes a composite index already serves (issue 14).

Every event row paid 7 index insertions (and every non-HOT update, such as an
anonymization's, 7 index entries); three of them were Django's default indexes on
``project_id``, ``customer_id`` and ``event_type_id``, each the leading column of a composite
index the queries use anyway (``event_project_type_time``, ``event_customer_time``, and on
PostgreSQL ``event_type_time_customer``). The same for a customer ID's ``project_id`` (the
unique ``(project, name, value)``) and ``customer_id`` (``customer_id_by_customer``), and a
customer's ``project_id`` (``customer_project_id``). Foreign-key checks and cascades look the
rows up through the composite indexes.

Only the indexes are dropped: the model state changes to ``db_index=False``, but the
database operation is a plain ``DROP INDEX`` instead of Django's AlterField, which on
PostgreSQL would also drop and re-add (and so re-validate, scanning every row) each
foreign key.
"""

from django.db import migrations, models
import django.db.models.deletion

# (model, field) whose single-column index goes.
FIELDS = [
    ("customer", "project"),
    ("customerid", "customer"),
    ("customerid", "project"),
    ("event", "customer"),
    ("event", "event_type"),
    ("event", "project"),
]


def _indexes(apps, schema_editor):
    for model_name, field_name in FIELDS:
        model = apps.get_model("customers", model_name)
        column = model._meta.get_field(field_name).column
        table = model._meta.db_table
        yield table, column, schema_editor._create_index_name(table, [column], suffix="")


def drop_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for _, _, name in _indexes(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")


def create_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for table, column, name in _indexes(apps, schema_editor):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} ({quote(column)})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0005_api_key_kinds_rotation_tracking_settings"),
        ("customers", "0008_pg_properties_statistics"),
        ("datamanager", "0002_customer_attribute_searchable"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="customers",
                        to="access.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="customerid",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="external_ids",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="customerid",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="access.project",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="customers.customer",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="event_type",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="datamanager.eventtype",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="access.project",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
        ),
    ]
