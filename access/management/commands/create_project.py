"""Create a project with its built-in roles and print its token."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.errors import DomainError
from access.services import project_create


class Command(BaseCommand):
    help = "Create a project (with the built-in roles) and print its token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The project's name.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = project_create(name=options["name"], created_by="cli")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(json.dumps({"name": project.name, "token": str(project.token)}))
            return
        self.stdout.write(self.style.SUCCESS(f"Created project '{project.name}'"))
        self.stdout.write(f"token {project.token}")
