"""Anonymize customers from the command line: a file of customer IDs, or a customer filter.

    manage.py anonymize_customers --project TOKEN --file ids.csv
    manage.py anonymize_customers --project TOKEN --file ids.jsonl --yes
    manage.py anonymize_customers --project TOKEN --filter "c=plan:equals:free&e=!purchase:365"
    manage.py anonymize_customers --project TOKEN --resume JOB_ID

CSV: a header row of ID names (``registered``, ``cookie``, …) or ``internal_id``; one
customer per row (empty cells are ignored). JSON lines: one object per line, either
``{"registered": "..."}``, ``{"customer_ids": {...}}`` or ``{"internal_id": "..."}``.

The IDs are resolved to internal ids first, then a job (source ``cli``) runs here, chunk by
chunk, with a progress bar; an interrupted run continues with ``--resume``. Output names
line numbers and counts, never an ID value.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from access.errors import DomainError
from access.models import Project
from access.selectors import principal_for_system
from customers.filters import CustomerFilter
from customers.models import AnonymizationJob
from customers.services.anonymization import chunk_size
from customers.services.anonymization_bulk import (
    bulk_anonymization_start,
    bulk_selection_by_ids,
    bulk_selection_matching,
)
from customers.services.anonymization_jobs import anonymization_job_step


def project_from_argument(value: str) -> Project:
    """The project a ``--project`` argument names: its token, or its exact name if unique."""
    try:
        project = Project.objects.filter(token=uuid.UUID(value)).first()
    except ValueError:
        matches = list(Project.objects.filter(name=value)[:2])
        if len(matches) > 1:
            raise CommandError(f"Several projects are named '{value}': pass the token.") from None
        project = matches[0] if matches else None
    if project is None:
        raise CommandError("No such project (pass its token or its exact name).")
    return project


def read_entries(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, entry)`` per customer in a CSV or JSON-lines file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {type(exc).__name__}.") from exc
    if text.lstrip().startswith("{"):
        return _json_lines(text)
    return _csv_rows(text)


def _json_lines(text: str) -> list[tuple[int, dict[str, Any]]]:
    entries: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise CommandError(f"Line {number} is not a JSON object.") from exc
        if not isinstance(obj, dict):
            raise CommandError(f"Line {number} is not a JSON object.")
        if set(obj) in ({"customer_ids"}, {"internal_id"}):
            entries.append((number, obj))
        else:
            entries.append((number, {"customer_ids": obj}))
    return entries


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise CommandError("The CSV file needs a header row of ID names (or internal_id).")
    names = [h.strip() for h in header]
    entries: list[tuple[int, dict[str, Any]]] = []
    for row in reader:
        number = reader.line_num
        cells = {n: v.strip() for n, v in zip(names, row, strict=False) if n and v.strip()}
        if not cells:
            continue
        if "internal_id" in cells:
            entries.append((number, {"internal_id": cells["internal_id"]}))
        else:
            entries.append((number, {"customer_ids": cells}))
    return entries


class Command(BaseCommand):
    help = "Anonymize customers listed in a file or matching a filter (cannot be undone)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project token (or exact name).")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", type=Path, help="CSV or JSON lines of customer IDs.")
        source.add_argument(
            "--filter", dest="filter_string", help="Customer filter, as in the list's URL."
        )
        source.add_argument("--resume", help="Continue an unfinished job (its ID).")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--chunk-size", type=int, default=None, help="Customers per transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_from_argument(options["project"])
        actor = principal_for_system(project, label="cli")
        size = options["chunk_size"] or chunk_size()
        if size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        job: AnonymizationJob | None
        try:
            if options["resume"]:
                job = self._resumable(project, options["resume"])
            else:
                job = self._create(actor, options)
                if job is None:
                    return
            self._run(job, size)
        except DomainError as exc:
            raise CommandError(exc.message) from exc

    def _create(self, actor: Any, options: dict[str, Any]) -> AnonymizationJob | None:
        not_found_lines: list[int] = []
        if options["file"] is not None:
            entries = read_entries(options["file"])
            if not entries:
                raise CommandError("The file lists no customer.")
            try:
                selection = bulk_selection_by_ids(actor, [entry for _, entry in entries])
            except DomainError as exc:
                raise CommandError(_with_line_numbers(exc.message, entries)) from exc
            not_found_lines = [entries[position][0] for position in selection.not_found]
            count = selection.count
            what = f"{count} customer{'s' if count != 1 else ''} listed in {options['file'].name}"
        else:
            customer_filter = CustomerFilter.from_string(options["filter_string"])
            selection = bulk_selection_matching(actor, customer_filter)
            count = selection.count
            described = " and ".join(customer_filter.describe()) or "no filter (every customer)"
            what = f"{count} customer{'s' if count != 1 else ''} matching {described}"
        if not_found_lines:
            shown = ", ".join(str(n) for n in not_found_lines[:20])
            more = ", …" if len(not_found_lines) > 20 else ""
            self.stdout.write(
                self.style.WARNING(
                    f"{len(not_found_lines)} line(s) name no customer: {shown}{more}"
                )
            )
        if not count:
            self.stdout.write("Nothing to anonymize.")
            return None
        question = (
            f"Anonymize {what} in project '{actor.project.name}'? Their personal data, all "
            "their IDs and the personal attributes of their events are deleted. This cannot "
            "be undone. [y/N] "
        )
        if not options["yes"] and not self._confirm(question):
            self.stdout.write("Cancelled; nothing was changed.")
            return None
        return bulk_anonymization_start(
            actor=actor,
            selection=selection,
            source=AnonymizationJob.Source.CLI,
            not_found=not_found_lines,
            start=False,
        )

    def _confirm(self, question: str) -> bool:
        self.stdout.write(question, ending="")
        self.stdout.flush()
        try:
            answer = input()
        except EOFError:
            return False
        return answer.strip().lower() in {"y", "yes"}

    def _resumable(self, project: Project, raw: str) -> AnonymizationJob:
        try:
            job = AnonymizationJob.objects.filter(project=project, public_id=uuid.UUID(raw)).first()
        except ValueError:
            job = None
        if job is None:
            raise CommandError("No such job in this project.")
        if job.status == AnonymizationJob.Status.FAILED:
            raise CommandError(f"Job {job.public_id} failed: {job.error}")
        return job

    def _run(self, job: AnonymizationJob, size: int) -> None:
        self.stdout.write(f"Job {job.public_id}: {job.total} customers.")
        with tqdm(
            total=job.total, initial=job.done, unit="customer", desc="Anonymizing"
        ) as progress:
            done = job.done
            while anonymization_job_step(job_id=job.pk, size=size):
                job.refresh_from_db(fields=["done"])
                progress.update(job.done - done)
                done = job.done
            job.refresh_from_db()
            progress.update(job.done - done)
        if job.status != AnonymizationJob.Status.DONE:
            raise CommandError(f"Job {job.public_id} {job.status}: {job.error}")
        self.stdout.write(
            self.style.SUCCESS(f"Done: {job.done} customers processed (job {job.public_id}).")
        )


def _with_line_numbers(message: str, entries: list[tuple[int, dict[str, Any]]]) -> str:
    """Turn the service's ``customers[i]`` positions into the file's line numbers."""

    def line_of(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return f"line {entries[index][0]}" if index < len(entries) else match.group(0)

    return re.sub(r"customers\[(\d+)\]", line_of, message)
