"""Forms of the access management pages: they validate input; services do the work."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import ApiKey, Project, Role, TrackingSettings
from .permissions import DIRECT_GRANTS, PROJECT_PERMISSIONS, Perm

# What each permission lets a holder do, shown next to its checkbox.
PERMISSION_HELP: dict[str, str] = {
    Perm.VIEW_CUSTOMERS: "Open the customer list and profiles.",
    Perm.VIEW_PERSONAL_DATA: "See values of attributes flagged as personal data.",
    Perm.EXPORT_CUSTOMERS: "Download customer exports.",
    Perm.ANONYMIZE_CUSTOMERS: "Anonymize customers, one at a time or in bulk.",
    Perm.MANAGE_DATA: "Edit the Data manager, including personal-data flags.",
    Perm.MANAGE_ACCESS: "Manage members, roles, API keys; read the audit log.",
}
API_PERMISSION_LABELS: dict[str, str] = {
    "track": "Track customers and events",
    "read_customers": "Read customers",
    "view_personal_data": "Personal data",
    "export_customers": "Export customers",
    "anonymize_customers": "Anonymize customers",
    "manage_data": "Data manager",
    "view_access_log": "Access log",
}
ROLE_PERMISSION_CHOICES = [(str(code), str(label)) for code, label in PROJECT_PERMISSIONS]


class ProjectRolesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


def _roles_field(project: Project, *, required: bool = False) -> ProjectRolesField:
    return ProjectRolesField(
        queryset=Role.objects.filter(project=project).select_related("group"),
        required=required,
        widget=forms.CheckboxSelectMultiple,
    )


class MemberAddForm(forms.Form):
    """Add an existing user by username."""

    username = forms.CharField(max_length=150)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"] = _roles_field(project)


class MemberCreateForm(forms.Form):
    """Create a new user by e-mail and add them."""

    email = forms.EmailField(max_length=254)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"] = _roles_field(project)


class MemberRolesForm(forms.Form):
    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"] = _roles_field(project)


class DirectGrantForm(forms.Form):
    perm = forms.ChoiceField(choices=[(str(p), str(p)) for p in sorted(DIRECT_GRANTS)])
    granted = forms.BooleanField(required=False)


class RoleForm(forms.Form):
    name = forms.CharField(max_length=100)
    permissions = forms.MultipleChoiceField(
        choices=ROLE_PERMISSION_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(
        choices=ApiKey.KINDS, initial=ApiKey.PRIVATE, widget=forms.RadioSelect, required=False
    )
    permissions = forms.MultipleChoiceField(
        choices=[(name, API_PERMISSION_LABELS[name]) for name in ApiKey.PERMISSION_FIELDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


ROTATION_GRACE_CHOICES = [("24", "old works 24 h"), ("1", "old works 1 h"), ("0", "old stops now")]


class ApiKeyRotateForm(forms.Form):
    grace_hours = forms.TypedChoiceField(choices=ROTATION_GRACE_CHOICES, coerce=int, initial="24")


class TrackingSettingsForm(forms.Form):
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://shop.example"}),
        help_text="One origin per line; pages there may call the tracking endpoints.",
    )
    public_hard_ids = forms.ChoiceField(choices=TrackingSettings.HARD_ID_POLICIES)


class AuditFilterForm(forms.Form):
    actor = forms.ChoiceField(required=False)
    action = forms.ChoiceField(required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actors: list[str], actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "Anyone")] + [(a, a) for a in actors]  # type: ignore[attr-defined]
        choices: list[tuple[str, str]] = [("", "Any action")]
        for group in sorted({a.split(".", 1)[0] for a in actions}):
            members = [a for a in actions if a.split(".", 1)[0] == group]
            if len(members) > 1 or members != [group]:
                choices.append((group, f"{group}.* (all)"))
            choices.extend((a, a) for a in members if a != group or len(members) == 1)
        self.fields["action"].choices = choices  # type: ignore[attr-defined]
