"""Add a project-defined customer ID: ``manage.py create_customer_id PROJECT NAME [--soft] [--not-pii]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.errors import DomainError
from access.management.commands._project_arg import project_from_arg
from access.selectors import principal_for_system
from datamanager.ids import customer_id_create


class Command(BaseCommand):
    help = (
        "Add a customer ID name to a project (hard and personal data unless told otherwise); "
        "tracking and the data API accept it in customer_ids at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project token or exact name.")
        parser.add_argument("name", help="The ID name, e.g. crm_id (lower-case, digits, _).")
        parser.add_argument(
            "--soft",
            action="store_true",
            help="A soft ID (several values per customer, like cookie); default: hard.",
        )
        parser.add_argument(
            "--not-pii",
            action="store_true",
            help="Not personal data: shown to everyone who views customers; default: PII.",
        )
        parser.add_argument("--description", default="", help="What the ID holds.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_from_arg(options["project"])
        try:
            attr = customer_id_create(
                actor=principal_for_system(project, label="cli"),
                name=options["name"],
                hard=not options["soft"],
                pii=not options["not_pii"],
                description=options["description"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        kind = "hard" if attr.hard else "soft"
        pii = "personal data" if attr.pii else "not personal data"
        self.stdout.write(
            self.style.SUCCESS(f"Added {kind} ID '{attr.name}' ({pii}) to '{project.name}'.")
        )
