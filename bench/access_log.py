"""Profile and list pages as the admin (who sees PII) with the access log on and off.

    DATABASE_URL=postgres://root@127.0.0.1:5432/h7 .venv/bin/python bench/access_log.py
    .venv/bin/python bench/access_log.py --customers 200 --rounds 200     # SQLite (in memory)

Creates a throw-away test database (``test_<name>``, dropped at the end), seeds the demo
shop with ``--customers`` customers, signs the demo admin in with Django's test client and
requests the first customer's profile and the default customer list ``--rounds`` times
each, alternating access log on / off request by request (so both see the same machine
load), and prints the median and p90 per page and the difference, and the process's CPU
time and the load average. With the log on, every request writes one access entry; the
bench checks that it did. ``--writer async`` (the default, as in production settings)
hands entries to the background writer (accountability/writer.py); ``--writer sync``
inserts them in the request (one statement on PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exponea_pii.test_settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--writer", choices=["async", "sync"], default="async")
    args = parser.parse_args()
    cpu_start = time.process_time()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from access.models import Project
    from accountability.models import PersonalDataAccess
    from accountability.writer import access_log_flush, access_log_writer_stop
    from customers.models import Customer

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        call_command("seed_demo", customers=args.customers, verbosity=0)
        project = Project.objects.get(name="Demo shop")
        customer = Customer.objects.filter(project=project).order_by("pk").first()
        assert customer is not None
        from django.contrib.auth import get_user_model

        client = Client()
        client.force_login(get_user_model().objects.get(username="admin"))
        urls = {
            "profile": reverse(
                "customers:detail", kwargs={"token": project.token, "pk": customer.pk}
            ),
            "list": reverse("customers:list", kwargs={"token": project.token}),
        }
        times: dict[tuple[str, bool], list[float]] = {}
        for page, url in urls.items():
            for _ in range(10):  # warm caches and connections
                client.get(url)
            for i in range(args.rounds * 2):
                on = i % 2 == 0
                with override_settings(
                    PERSONAL_DATA_ACCESS_LOG=on,
                    PERSONAL_DATA_ACCESS_LOG_ASYNC=args.writer == "async",
                ):
                    # Flushed only around the first checks: later, the writer's work
                    # overlaps the next timed requests, as it would in production.
                    if i < 4:
                        access_log_flush()
                    before = PersonalDataAccess.objects.count() if i < 4 else 0
                    start = time.perf_counter()
                    response = client.get(url)
                    elapsed = time.perf_counter() - start
                    assert response.status_code == 200
                    if i < 4:
                        access_log_flush()
                        written = PersonalDataAccess.objects.count() - before
                        assert written == (1 if on else 0), (page, on, written)
                times.setdefault((page, on), []).append(elapsed * 1000)
        vendor = connection.vendor
        print(
            f"access log bench: {vendor}, {args.customers} customers, {args.rounds} requests "
            f"per page and setting, DEBUG={settings.DEBUG}, writer {args.writer}, "
            f"CPU {time.process_time() - cpu_start:.1f} s, load {os.getloadavg()[0]:.1f}"
        )
        print("| page | log off median / p90 (ms) | log on median / p90 (ms) | difference |")
        print("|---|---|---|---|")
        for page in urls:
            off, on_ = times[(page, False)], times[(page, True)]
            m_off, m_on = statistics.median(off), statistics.median(on_)
            p_off = statistics.quantiles(off, n=10)[-1]
            p_on = statistics.quantiles(on_, n=10)[-1]
            print(
                f"| {page} | {m_off:.2f} / {p_off:.2f} | {m_on:.2f} / {p_on:.2f} | "
                f"{(m_on - m_off) / m_off * 100:+.1f} % |"
            )
    finally:
        access_log_writer_stop()  # its connection would keep the test database open
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
