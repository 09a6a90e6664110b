"""The built-in Admin role of every existing project gets ``request_personal_data``.

An admin grants only what it holds (access/services/grant_rule.py): without it no admin
could compose a role that may ask for temporary reveals. New projects get it from
BUILTIN_ROLES.
"""

from django.db import migrations

CODENAME = "request_personal_data"


def grant_to_admin_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Role = apps.get_model("access", "Role")
    GroupPerm = apps.get_model("access", "ProjectGroupObjectPermission")
    content_type, _ = ContentType.objects.get_or_create(app_label="access", model="project")
    # post_migrate creates permissions only after every migration ran: create it now.
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": "Request personal data"}
    )
    for role in Role.objects.filter(builtin=True, name="Admin"):
        GroupPerm.objects.get_or_create(
            group_id=role.group_id, permission=permission, content_object_id=role.project_id
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accountability", "0002_reveals_reviews_verifications"),
        ("access", "0004_request_personal_data_permission"),
    ]

    operations = [migrations.RunPython(grant_to_admin_roles, migrations.RunPython.noop)]
