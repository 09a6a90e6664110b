"""Seal the settled entries of the audit log and the access log, then verify both chains."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accountability.models import TrailLog, TrailVerification
from accountability.trail import trail_seal_pending, trail_verify


class Command(BaseCommand):
    help = (
        "Seal the audit log and the personal-data access log (entries older than five "
        "minutes) and verify the chain; exits non-zero naming the first altered, removed "
        "or inserted entry. Run it from cron; record the head hashes it prints elsewhere."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-seal", action="store_true", help="verify only")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = []
        lines = []
        for log in TrailLog:
            if not options["no_seal"]:
                trail_seal_pending(log)
            report = trail_verify(log)
            status = "OK" if report.ok else "FAILED"
            line = (
                f"{log.label}: {status}, {report.sealed_entries} entries in {report.seals} "
                f"seals, {report.unsealed_entries} not sealed yet, head {report.head_hash}"
            )
            self.stdout.write(line)
            lines.append(line if report.ok else f"{line}: {report.problem}")
            if not report.ok:
                self.stderr.write(report.problem)
                problems.append(report.problem)
        # The access review page and the privacy overview show the last run.
        TrailVerification(ok=not problems, summary="\n".join(lines)).save(force_insert=True)
        if problems:
            raise CommandError("The audit trail does not hold: " + " ".join(problems))
