"""The permission vocabulary shared by users (guardian object permissions) and API keys."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class Perm(StrEnum):
    """A permission within one project. Users hold them through roles or direct grants."""

    VIEW_CUSTOMERS = "view_customers"
    VIEW_PERSONAL_DATA = "view_personal_data"
    EXPORT_CUSTOMERS = "export_customers"
    ANONYMIZE_CUSTOMERS = "anonymize_customers"
    MANAGE_DATA = "manage_data"
    MANAGE_ACCESS = "manage_access"
    # Read the personal-data access log: who saw whose PII, when, how and why.
    VIEW_ACCESS_LOG = "view_access_log"
    # Ask for a temporary reveal of one customer's personal data, with a reason
    # (accountability/: break-glass). Meaningless alongside Personal data; no API key has it.
    REQUEST_PERSONAL_DATA = "request_personal_data"
    # API keys only: tracking is not something a signed-in user does.
    TRACK = "track"


PROJECT_PERMISSIONS: list[tuple[str, str | StrOrPromise]] = [
    (Perm.VIEW_CUSTOMERS, "View customers"),
    (Perm.VIEW_PERSONAL_DATA, "Personal data"),
    (Perm.EXPORT_CUSTOMERS, "Export customers"),
    (Perm.ANONYMIZE_CUSTOMERS, "Anonymize customers"),
    (Perm.MANAGE_DATA, "Data manager"),
    (Perm.MANAGE_ACCESS, "Access management"),
    (Perm.VIEW_ACCESS_LOG, "Access log"),
    (Perm.REQUEST_PERSONAL_DATA, "Request personal data"),
]

# Built-in roles per project: name -> permissions. Admins may compose custom roles.
BUILTIN_ROLES: dict[str, frozenset[Perm]] = {
    "Admin": frozenset(
        {
            Perm.VIEW_CUSTOMERS,
            Perm.VIEW_PERSONAL_DATA,
            Perm.EXPORT_CUSTOMERS,
            Perm.ANONYMIZE_CUSTOMERS,
            Perm.MANAGE_DATA,
            Perm.MANAGE_ACCESS,
            Perm.VIEW_ACCESS_LOG,
            # Needless beside Personal data, but an admin grants only what it holds.
            Perm.REQUEST_PERSONAL_DATA,
        }
    ),
    "Data manager": frozenset({Perm.VIEW_CUSTOMERS, Perm.MANAGE_DATA}),
    "Marketer": frozenset({Perm.VIEW_CUSTOMERS, Perm.EXPORT_CUSTOMERS}),
    "Viewer": frozenset({Perm.VIEW_CUSTOMERS}),
}

# Permissions that may be granted to a single user directly, outside any role.
DIRECT_GRANTS: frozenset[Perm] = frozenset({Perm.VIEW_PERSONAL_DATA, Perm.ANONYMIZE_CUSTOMERS})

# API key permission names (Exponea "API group" style) -> project permission.
API_KEY_PERMISSIONS: dict[str, Perm] = {
    "track": Perm.TRACK,
    "read_customers": Perm.VIEW_CUSTOMERS,
    "view_personal_data": Perm.VIEW_PERSONAL_DATA,
    "export_customers": Perm.EXPORT_CUSTOMERS,
    "anonymize_customers": Perm.ANONYMIZE_CUSTOMERS,
    "manage_data": Perm.MANAGE_DATA,
    "view_access_log": Perm.VIEW_ACCESS_LOG,
}
