"""``manage.py apply_retention [--dry-run] [--project TOKEN]``: run due retention policies.

Resumes unfinished runs first, then starts a run per enabled policy that is due (not run in
the last 20 hours; ``--all`` runs every enabled policy now), in this process, with a
progress bar per run. ``--dry-run`` prints what each enabled policy would change (the
preview's counts) and changes nothing. Output holds names and counts, never a value.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from access.models import Project
from access.selectors import principal_for_system
from retention.models import RetentionPolicy, RetentionRun
from retention.services import (
    retention_due,
    retention_preview,
    retention_run_start,
    retention_run_step,
    retention_unfinished,
)


class Command(BaseCommand):
    help = "Apply the enabled retention policies (all projects, or one with --project)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="Project token (default: every project).")
        parser.add_argument("--dry-run", action="store_true", help="Only print the previews.")
        parser.add_argument(
            "--all", action="store_true", help="Run every enabled policy, due or not."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        projects = Project.objects.all().order_by("name")
        if options["project"]:
            projects = (
                projects.filter(token=options["project"])
                if _is_uuid(options["project"])
                else projects.none()
            )
            if not projects:
                raise CommandError("No project with that token.")
        for project in projects:
            enabled = list(RetentionPolicy.objects.filter(project=project, enabled=True))
            if not enabled and not retention_unfinished(project):
                continue
            self.stdout.write(f"{project.name} ({project.token})")
            actor = principal_for_system(project, label="apply_retention")
            if options["dry_run"]:
                for policy in enabled:
                    preview = retention_preview(actor, policy)
                    self.stdout.write(f"  would change {preview.count} {preview.unit}(s): {policy}")
                continue
            runs = retention_unfinished(project)
            due = enabled if options["all"] else retention_due(project)
            for policy in due:
                runs.append(
                    retention_run_start(
                        actor=actor,
                        policy_pk=policy.pk,
                        trigger=RetentionRun.Trigger.CLI,
                        start=False,
                    )
                )
            for run in {r.pk: r for r in runs}.values():
                self._run(run)

    def _run(self, run: RetentionRun) -> None:
        label = f"  {run.kind} {run.attribute or run.event_type}".rstrip()
        with tqdm(total=run.total, desc=label, unit="row", file=self.stderr) as bar:
            done = run.done
            bar.update(done)
            while retention_run_step(run_id=run.pk):
                run.refresh_from_db()
                bar.update(run.done - done)
                done = run.done
            run.refresh_from_db()
            bar.update(run.done - done)
        self.stdout.write(f"{label}: {run.status}, {run.done} of {run.total} changed")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
