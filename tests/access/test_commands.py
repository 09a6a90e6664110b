"""Management commands for admins who script their setup."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from access.models import ApiKey, AuditEvent, Project, Role
from access.permissions import Perm
from access.selectors import api_key_authenticate, principal_for_user

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_project_with_builtin_roles() -> None:
    data = json.loads(run("create_project", "Acme", "--json"))
    project = Project.objects.get(token=data["token"])
    assert project.name == "Acme"
    assert set(Role.objects.filter(project=project).values_list("name", flat=True)) == {
        "Admin",
        "Data manager",
        "Marketer",
        "Viewer",
    }
    assert AuditEvent.objects.filter(project=project, action="project.create").exists()
    with pytest.raises(CommandError):
        run("create_project", "  ")


def test_add_member_with_roles_and_personal_data() -> None:
    token = json.loads(run("create_project", "Acme", "--json"))["token"]
    out = run(
        "add_member",
        token,
        "mia",
        "--role",
        "Marketer",
        "--personal-data",
        "--email",
        "m@x.invalid",
    )
    mia = get_user_model().objects.get(username="mia")
    password = out.split("password ", 1)[1].split()[0]
    assert mia.check_password(password)
    project = Project.objects.get(token=token)
    assert principal_for_user(mia, project).permissions == {
        Perm.VIEW_CUSTOMERS,
        Perm.EXPORT_CUSTOMERS,
        Perm.VIEW_PERSONAL_DATA,
    }
    assert AuditEvent.objects.filter(project=project, actor_label="cli", action="member.grant")
    # By name, an existing user, without printing a password.
    out = run("add_member", "Acme", "mia", "--role", "Admin")
    assert "password" not in out
    assert Perm.MANAGE_ACCESS in principal_for_user(mia, project).permissions
    with pytest.raises(CommandError, match="Unknown role"):
        run("add_member", token, "mia", "--role", "Boss")
    with pytest.raises(CommandError, match="No project"):
        run("add_member", "Nope", "mia")


def test_create_api_key_prints_the_secret_once() -> None:
    token = json.loads(run("create_project", "Acme", "--json"))["token"]
    out = run(
        "create_api_key",
        token,
        "Backend",
        "--permission",
        "track",
        "--permission",
        "read_customers",
    )
    key_id = out.split("key_id", 1)[1].split()[0]
    secret = out.split("secret", 1)[1].split()[0]
    key = api_key_authenticate(key_id, secret)
    assert key is not None and key.permission_names == ["track", "read_customers"]
    assert secret not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    data = json.loads(run("create_api_key", token, "All", "--all", "--json"))
    assert api_key_authenticate(data["key_id"], data["secret"]) is not None
    assert data["permissions"] == list(ApiKey.PERMISSION_FIELDS)
