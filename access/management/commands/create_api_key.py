"""Create an API key in a project and print its secret once."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.errors import DomainError
from access.models import ApiKey
from access.selectors import principal_for_system
from access.services import api_key_create

from ._project_arg import project_from_arg


class Command(BaseCommand):
    help = "Create an API key (HTTP Basic key_id:secret); the secret is printed once, never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project token or exact name.")
        parser.add_argument("name", help="The key's name, e.g. 'Backend'.")
        parser.add_argument(
            "--permission",
            action="append",
            default=[],
            dest="permissions",
            choices=list(ApiKey.PERMISSION_FIELDS),
            help="Repeat for several; default: track only.",
        )
        parser.add_argument("--all", action="store_true", help="Every permission.")
        parser.add_argument(
            "--public",
            action="store_true",
            help="A public key for browser SDKs (Authorization: Token <key>): tracking only.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_from_arg(options["project"])
        perms = list(ApiKey.PERMISSION_FIELDS) if options["all"] else options["permissions"]
        perms = perms or ["track"]
        try:
            key, secret = api_key_create(
                actor=principal_for_system(project, label="cli"),
                name=options["name"],
                permissions=perms,
                kind=ApiKey.PUBLIC if options["public"] else ApiKey.PRIVATE,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "project_token": str(project.token),
                        "key_id": key.key_id,
                        "kind": key.kind,
                        "secret": secret,
                        "permissions": key.permission_names,
                    }
                )
            )
            return
        self.stdout.write(self.style.SUCCESS(f"API key '{key.name}' in '{project.name}'"))
        if key.is_public:
            self.stdout.write(f"public key  {key.key_id}  (send as Authorization: Token <key>)")
        else:
            self.stdout.write(f"key_id      {key.key_id}")
            self.stdout.write(f"secret      {secret}  (shown once: store it now)")
        self.stdout.write(f"permissions {', '.join(key.permission_names)}")
