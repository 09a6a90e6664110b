"""Anonymize again every customer of the erasure ledger that the database holds intact.

    manage.py replay_erasures                     # every project in the database
    manage.py replay_erasures --project TOKEN     # one project (token or exact name)
    manage.py replay_erasures --dry-run           # count only, change nothing

Run it right after restoring a backup, before the application takes traffic again
(docs/operations.md). Matching, and why a customer created after the erasure is left
alone: :func:`customers.services.erasure_ledger.erasures_pending`. The work goes through the
anonymization service as the system principal ``replay_erasures`` (one audit event per
customer, one ``erasure.replay`` event per project). Output holds counts, never a value.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from access.models import Project
from access.selectors import principal_for_system
from customers.management.commands.anonymize_customers import project_from_argument
from customers.services.anonymization import erasures_replay
from customers.services.erasure_ledger import (
    erasures_pending,
    key_fingerprint,
    ledger_dir,
    ledger_entries,
)


class Command(BaseCommand):
    help = "Re-anonymize the customers of the erasure ledger that a restored database brought back."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="project token or exact name (default: all)")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would be anonymized, change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = ledger_dir()
        if not directory.is_dir():
            raise CommandError(
                f"No erasure ledger at {directory} (set ERASURE_LEDGER_DIR to the ledger you kept)."
            )
        projects = (
            [project_from_argument(options["project"])]
            if options["project"]
            else list(Project.objects.order_by("pk"))
        )
        fingerprint = key_fingerprint()
        foreign_keys = {e.key for e in ledger_entries() if e.key and e.key != fingerprint}
        if foreign_keys:
            self.stderr.write(
                f"Warning: ledger lines hashed with another key ({len(foreign_keys)} key(s)); "
                "their hard IDs cannot be matched, only their internal ids. Set "
                "ERASURE_LEDGER_KEY to the key in use when they were written."
            )
        total = 0
        for project in projects:
            pending = erasures_pending(project=project)
            label = f"project #{project.pk} ({project.token})"
            if options["dry_run"]:
                self.stdout.write(f"{label}: {len(pending)} customer(s) to anonymize again.")
                total += len(pending)
                continue
            if not pending:
                self.stdout.write(f"{label}: nothing to replay.")
                continue
            actor = principal_for_system(project, label="replay_erasures")
            with tqdm(total=len(pending), unit="customer", desc=label, file=self.stderr) as bar:
                done = erasures_replay(actor=actor, customer_pks=pending, progress=bar.update)
            self.stdout.write(f"{label}: {done} customer(s) anonymized again.")
            total += done
        verb = "would be anonymized" if options["dry_run"] else "anonymized again"
        self.stdout.write(self.style.SUCCESS(f"{total} customer(s) {verb}."))
