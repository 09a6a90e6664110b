# Job heartbeat and lease: a running job whose worker was lost is re-enqueued by the watchdog
# (customers/services/job_lease.py).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0003_anonymization_job_request_key'),
    ]

    operations = [
        migrations.AddField(
            model_name='anonymizationjob',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='anonymizationjob',
            name='lease',
            field=models.CharField(blank=True, default='', max_length=32),
        ),
    ]
