"""The ``view_access_log`` permission (the personal-data access log, accountability/).

Adds it to the project permissions and as an API key column, and grants it to the
built-in Admin role of every existing project (new projects get it from BUILTIN_ROLES).
"""

from django.db import migrations, models

import access.permissions

CODENAME = "view_access_log"


def grant_to_admin_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Role = apps.get_model("access", "Role")
    GroupPerm = apps.get_model("access", "ProjectGroupObjectPermission")
    content_type, _ = ContentType.objects.get_or_create(app_label="access", model="project")
    # post_migrate creates permissions only after every migration ran: create it now.
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": "Access log"}
    )
    for role in Role.objects.filter(builtin=True, name="Admin"):
        GroupPerm.objects.get_or_create(
            group_id=role.group_id, permission=permission, content_object_id=role.project_id
        )


def revoke_from_roles(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="access", codename=CODENAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="project",
            options={
                "default_permissions": (),
                "ordering": ["name", "id"],
                "permissions": [
                    (access.permissions.Perm["VIEW_CUSTOMERS"], "View customers"),
                    (access.permissions.Perm["VIEW_PERSONAL_DATA"], "Personal data"),
                    (access.permissions.Perm["EXPORT_CUSTOMERS"], "Export customers"),
                    (access.permissions.Perm["ANONYMIZE_CUSTOMERS"], "Anonymize customers"),
                    (access.permissions.Perm["MANAGE_DATA"], "Data manager"),
                    (access.permissions.Perm["MANAGE_ACCESS"], "Access management"),
                    (access.permissions.Perm["VIEW_ACCESS_LOG"], "Access log"),
                ],
            },
        ),
        migrations.AddField(
            model_name="apikey",
            name="can_view_access_log",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(grant_to_admin_roles, revoke_from_roles),
    ]
