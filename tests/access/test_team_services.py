"""Team services: members, roles, direct grants, the last-admin guard and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from access.errors import Conflict, InvalidInput, NotFound
from access.models import AuditEvent, Membership, Role
from access.permissions import Perm
from access.selectors import members_for_project, principal_for_user
from access.services import (
    invitation_accept,
    member_invite_by_email,
    member_remove,
    member_roles_set,
    member_set_direct_grant,
    project_admin_ids,
    role_create,
    role_delete,
    role_update,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _admin_principal(project: Any, user: Any, ip: str = "198.51.100.7") -> Any:
    return principal_for_user(user, project, ip=ip)


def _role(project: Any, name: str) -> Role:
    return Role.objects.get(project=project, name=name)


def test_invite_by_email_makes_an_account_that_joins_on_accept_and_audits_without_the_email() -> (
    None
):
    project = factories.make_project()
    admin = factories.make_member(project, "alice", roles=("Admin",))
    actor = _admin_principal(project, admin)
    result = member_invite_by_email(
        actor=actor, email="New.Person@Example.com", roles=[_role(project, "Viewer")]
    )
    user = result.user
    assert result.new_user and user is not None
    assert user.email == "new.person@example.com"
    assert not user.has_usable_password()  # they choose one from the invitation mail
    assert not Membership.objects.filter(project=project, user=user).exists()
    invitation_accept(user=user, invitation_id=result.invitation.pk)
    assert principal_for_user(user, project).permissions == {Perm.VIEW_CUSTOMERS}
    events = AuditEvent.objects.filter(project=project)
    assert {"member.invite", "invitation.accept", "member.add"} <= {e.action for e in events}
    for event in events:
        assert "example.com" not in str(event.details)
    invite = events.get(action="member.invite")
    assert invite.ip == "198.51.100.7"
    assert invite.actor_label == "alice"


def test_invite_by_email_refuses_bad_addresses_and_current_members() -> None:
    project = factories.make_project()
    admin = factories.make_member(project, "alice", roles=("Admin",))
    actor = _admin_principal(project, admin)
    with pytest.raises(InvalidInput):
        member_invite_by_email(actor=actor, email="not-an-email")
    with pytest.raises(Conflict):
        member_invite_by_email(actor=actor, email="ALICE@staff.invalid")
    assert Membership.objects.filter(project=project).count() == 1


def test_roles_set_is_exact_and_takes_effect_at_once() -> None:
    project = factories.make_project()
    admin = factories.make_member(project, "alice", roles=("Admin",))
    mark = factories.make_member(project, "mark", roles=("Marketer", "Viewer"))
    actor = _admin_principal(project, admin)
    member_roles_set(actor=actor, user=mark, roles=[_role(project, "Data manager")])
    assert set(Role.objects.filter(project=project, group__user=mark)) == {
        _role(project, "Data manager")
    }
    assert principal_for_user(mark, project).permissions == {
        Perm.VIEW_CUSTOMERS,
        Perm.MANAGE_DATA,
    }
    event = AuditEvent.objects.filter(action="member.roles_set").get()
    assert event.details["added"] == ["Data manager"]
    assert event.details["removed"] == ["Marketer", "Viewer"]


def test_roles_of_another_project_are_refused() -> None:
    project = factories.make_project()
    other = factories.make_project("Other")
    admin = factories.make_member(project, "alice", roles=("Admin",))
    mark = factories.make_member(project, "mark", roles=("Viewer",))
    with pytest.raises(NotFound):
        member_roles_set(
            actor=_admin_principal(project, admin), user=mark, roles=[_role(other, "Admin")]
        )
    assert principal_for_user(mark, project).permissions == {Perm.VIEW_CUSTOMERS}


def test_remove_drops_roles_and_direct_grants_of_that_project_only() -> None:
    project = factories.make_project()
    other = factories.make_project("Other")
    admin = factories.make_member(project, "alice", roles=("Admin",))
    mark = factories.make_member(project, "mark", roles=("Marketer",), personal_data=True)
    other_role = _role(other, "Viewer")
    Membership.objects.create(project=other, user=mark)
    mark.groups.add(other_role.group)
    member_remove(actor=_admin_principal(project, admin), user=mark)
    assert not Membership.objects.filter(project=project, user=mark).exists()
    assert not mark.groups.filter(role__project=project).exists()
    assert mark.groups.filter(pk=other_role.group.pk).exists()
    # Added back later, the user starts from nothing: no stale grant survives.
    Membership.objects.create(project=project, user=mark)
    assert principal_for_user(mark, project).permissions == frozenset()


def test_the_last_admin_cannot_be_removed_or_demoted_even_by_themselves() -> None:
    project = factories.make_project()
    admin = factories.make_member(project, "alice", roles=("Admin",))
    factories.make_member(project, "mark", roles=("Marketer",))
    actor = _admin_principal(project, admin)
    with pytest.raises(Conflict):
        member_remove(actor=actor, user=admin)
    with pytest.raises(Conflict):
        member_roles_set(actor=actor, user=admin, roles=[_role(project, "Marketer")])
    with pytest.raises(Conflict):
        member_roles_set(actor=actor, user=admin, roles=[])
    # Nothing was half-written.
    assert project_admin_ids(project) == {admin.pk}
    assert Perm.MANAGE_ACCESS in principal_for_user(admin, project).permissions
    assert not AuditEvent.objects.filter(action__in=["member.remove", "member.roles_set"]).exists()


def test_an_admin_may_step_down_when_another_admin_remains() -> None:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    bob = factories.make_member(project, "bob", roles=("Admin",))
    member_roles_set(
        actor=_admin_principal(project, alice), user=alice, roles=[_role(project, "Viewer")]
    )
    assert project_admin_ids(project) == {bob.pk}
    with pytest.raises(Conflict):
        member_remove(actor=_admin_principal(project, bob), user=bob)


def test_custom_admin_role_counts_and_is_guarded_too() -> None:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    actor = _admin_principal(project, alice)
    keeper = role_create(actor=actor, name="Keeper", permissions=[Perm.MANAGE_ACCESS])
    bob = factories.make_member(project, "bob", roles=("Viewer",))
    member_roles_set(actor=actor, user=bob, roles=[keeper])
    member_roles_set(actor=actor, user=alice, roles=[_role(project, "Viewer")])
    bob_actor = _admin_principal(project, bob)
    assert project_admin_ids(project) == {bob.pk}
    with pytest.raises(Conflict):
        # (Only withdrawing: bob lacks View customers, so adding it would be refused first.)
        role_update(actor=bob_actor, role=keeper, name="Keeper", permissions=[])
    with pytest.raises(Conflict):
        role_delete(actor=bob_actor, role=keeper)
    assert Perm.MANAGE_ACCESS in principal_for_user(bob, project).permissions


def test_custom_role_lifecycle_and_builtin_roles_are_read_only() -> None:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    actor = _admin_principal(project, alice)
    role = role_create(actor=actor, name="Analyst", permissions=[Perm.VIEW_CUSTOMERS])
    ann = factories.make_member(project, "ann", roles=("Analyst",))
    role_update(
        actor=actor,
        role=role,
        name="Senior analyst",
        permissions=[Perm.VIEW_CUSTOMERS, Perm.EXPORT_CUSTOMERS],
    )
    assert principal_for_user(ann, project).permissions == {
        Perm.VIEW_CUSTOMERS,
        Perm.EXPORT_CUSTOMERS,
    }
    with pytest.raises(Conflict):
        role_update(actor=actor, role=role, name="marketer", permissions=[])
    # A new role may take the old name: group names do not collide.
    role_create(actor=actor, name="Analyst", permissions=[])
    role_delete(actor=actor, role=role)
    assert principal_for_user(ann, project).permissions == frozenset()
    for builtin in Role.objects.filter(project=project, builtin=True):
        with pytest.raises(InvalidInput):
            role_update(actor=actor, role=builtin, name=builtin.name, permissions=[])
        with pytest.raises(InvalidInput):
            role_delete(actor=actor, role=builtin)
    actions = list(
        AuditEvent.objects.filter(project=project, target_type="role", actor_label="alice")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["role.create", "role.update", "role.create", "role.delete"]


def test_direct_grant_changes_the_next_principal() -> None:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    mark = factories.make_member(project, "mark", roles=("Marketer",))
    actor = _admin_principal(project, alice)
    assert not principal_for_user(mark, project).can_see_personal_data
    member_set_direct_grant(actor=actor, user=mark, perm=Perm.VIEW_PERSONAL_DATA, granted=True)
    assert principal_for_user(mark, project).can_see_personal_data
    member_set_direct_grant(actor=actor, user=mark, perm=Perm.VIEW_PERSONAL_DATA, granted=False)
    assert not principal_for_user(mark, project).can_see_personal_data
    with pytest.raises(InvalidInput):
        member_set_direct_grant(actor=actor, user=mark, perm=Perm.MANAGE_ACCESS, granted=True)


def test_members_listing_prefetches(django_assert_max_num_queries: Any) -> None:
    project = factories.make_project()
    alice = factories.make_member(project, "alice", roles=("Admin",))
    for n in range(8):
        factories.make_member(project, f"m{n}", roles=("Marketer",), personal_data=n % 2 == 0)
    actor = _admin_principal(project, alice)
    with django_assert_max_num_queries(6):
        rows = members_for_project(actor)
    assert len(rows) == 9
    by_name = {r.user.get_username(): r for r in rows}
    assert by_name["m0"].personal_data and not by_name["m0"].personal_data_via_role
    assert not by_name["m1"].personal_data
    assert by_name["alice"].is_admin and by_name["alice"].personal_data_via_role
    assert get_user_model().objects.count() == 9
