"""Every write about access: projects, members, roles, direct grants, API keys, audit log.

Each service is keyword-only, atomic, takes the acting principal (or, for project creation
and user-level commands, a label) and writes the audit log. One module per job:

- :mod:`.audit` — the audit log's one writer;
- :mod:`.grant_rule` — a principal grants only what it holds;
- :mod:`.admin_guard` — a project keeps at least one admin (the row lock and the count);
- :mod:`.roles`, :mod:`.members`, :mod:`.invitations` — team management;
- :mod:`.projects` — project creation (with its built-in roles) and installation users;
- :mod:`.api_keys` — API keys (private and public; rotation with a grace period);
- :mod:`.tracking_settings` — CORS origins and the public keys' hard-ID policy.

The names below are the package's public interface; callers import them from here.
"""

from .admin_guard import ADMIN_PERMISSION, project_admin_ids
from .api_keys import api_key_create, api_key_end_grace, api_key_revoke, api_key_rotate
from .audit import audit_record
from .grant_rule import require_held
from .invitations import (
    InvitationResult,
    invitation_accept,
    invitation_decline,
    member_invite_by_email,
    member_invite_by_username,
)
from .members import member_add, member_remove, member_roles_set, member_set_direct_grant
from .projects import project_create, user_get_or_create
from .roles import role_create, role_delete, role_permissions, role_update
from .tracking_settings import tracking_settings_for, tracking_settings_update

__all__ = [
    "ADMIN_PERMISSION",
    "InvitationResult",
    "api_key_create",
    "api_key_end_grace",
    "api_key_revoke",
    "api_key_rotate",
    "audit_record",
    "invitation_accept",
    "invitation_decline",
    "member_add",
    "member_invite_by_email",
    "member_invite_by_username",
    "member_remove",
    "member_roles_set",
    "member_set_direct_grant",
    "project_admin_ids",
    "project_create",
    "require_held",
    "role_create",
    "role_delete",
    "role_permissions",
    "role_update",
    "tracking_settings_for",
    "tracking_settings_update",
    "user_get_or_create",
]
