"""Add a user to a project with roles and, optionally, the Personal data grant."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from access.errors import DomainError
from access.models import Role
from access.permissions import Perm
from access.selectors import principal_for_system
from access.services import member_add, member_set_direct_grant

from ._project_arg import project_from_arg


class Command(BaseCommand):
    help = (
        "Add a user (created if missing) to a project with roles; --personal-data grants "
        "the Personal data permission directly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project token or exact name.")
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            dest="roles",
            help="A role name (repeat for several), e.g. --role Admin --role Marketer.",
        )
        parser.add_argument("--email", default="", help="E-mail for a new user.")
        parser.add_argument(
            "--password",
            default=None,
            help="Password for a new user (default: a random one, printed once).",
        )
        parser.add_argument(
            "--personal-data", action="store_true", help="Grant Personal data directly."
        )
        parser.add_argument(
            "--anonymize", action="store_true", help="Grant Anonymize customers directly."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_from_arg(options["project"])
        names: list[str] = options["roles"]
        roles = list(Role.objects.filter(project=project, name__in=names))
        missing = sorted(set(names) - {r.name for r in roles})
        if missing:
            known = ", ".join(Role.objects.filter(project=project).values_list("name", flat=True))
            raise CommandError(f"Unknown role(s): {', '.join(missing)}. Roles: {known}.")
        actor = principal_for_system(project, label="cli")
        with transaction.atomic():  # a refused membership leaves no orphan user behind
            self._add(options, project, actor, roles)

    def _add(self, options: Any, project: Any, actor: Any, roles: list[Role]) -> None:
        User = get_user_model()
        user = User.objects.filter(username=options["username"]).first()
        new_password = None
        if user is None:
            new_password = options["password"] or secrets.token_urlsafe(12)
            user = User.objects.create_user(
                username=options["username"], email=options["email"], password=new_password
            )
        elif options["password"]:
            raise CommandError("The user exists; this command does not change passwords.")
        try:
            member_add(actor=actor, user=user, roles=roles)
            if options["personal_data"]:
                member_set_direct_grant(
                    actor=actor, user=user, perm=Perm.VIEW_PERSONAL_DATA, granted=True
                )
            if options["anonymize"]:
                member_set_direct_grant(
                    actor=actor, user=user, perm=Perm.ANONYMIZE_CUSTOMERS, granted=True
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        role_text = ", ".join(r.name for r in roles) or "no role"
        self.stdout.write(
            self.style.SUCCESS(
                f"{user.get_username()} is a member of '{project.name}' ({role_text})"
            )
        )
        if new_password is not None and not options["password"]:
            self.stdout.write(f"password {new_password}  (shown once)")
