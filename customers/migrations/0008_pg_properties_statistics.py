"""PostgreSQL only: a finer histogram of ``customers_customer.properties`` (issue 14 item 3).

The planner estimates ``properties @> '{"last_name": "Novak"}'`` (the filter's equality on
any property, customers/0006) from the column's histogram: the share of its entries that
contain the document. With the default 100 entries the estimate moves in steps of 1 % (10 k
customers at 1 M): ``last_name equals Cerny`` (37 k customers) was estimated at 10 k, under
the list's exact-count limit (20 k), so each page counted 37 k rows (550 ms). With 1,000
entries it is estimated at 34 k and the list shows "about 34 K" without counting. The cost:
ANALYZE of the table samples 300 k rows instead of 30 k (seconds, in autovacuum), and
planning an equality takes about 2 ms instead of 0.5 ms.
"""

from django.db import migrations

STATISTICS_TARGET = 1000


def set_target(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE customers_customer ALTER COLUMN properties SET STATISTICS {STATISTICS_TARGET}"
    )


def reset_target(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE customers_customer ALTER COLUMN properties SET STATISTICS -1"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_job_source_retention"),
    ]

    operations = [
        migrations.RunPython(set_target, reset_target, elidable=False),
    ]
