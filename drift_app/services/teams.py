"""Teams and memberships: who sees which deployments, with which role; team admins manage members."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ..models import Team, TeamMembership, default_team_id
from ..roles import ALL_ROLES, TEAM_ADMIN, forget_roles, has_role


@transaction.atomic
def team_membership_add(*, user, role: str, team: Team | None = None) -> TeamMembership:
    """Make `user` a member of `team` (the default team when None) with `role`.

    The role holds in that team only (drift_app/roles.py). A role also puts the user in the
    installation-wide role group, which carries only the admin site's model permissions, never access.
    """
    if role not in TeamMembership.Role.values:
        raise ValueError(f"unknown role {role!r}")
    team = team or Team.objects.get(pk=default_team_id())
    if role in ALL_ROLES:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    membership = TeamMembership.objects.get_or_create(team=team, user=user, role=role)[0]
    forget_roles(user)
    return membership


def _require_team_admin(actor, team: Team) -> None:
    # Pages check first; the service checks again, in the team itself (roles are per team).
    if not has_role(actor, TEAM_ADMIN, team=team.pk):
        raise PermissionDenied("Only a team admin of this team manages its members.")


@transaction.atomic
def team_member_add(*, team: Team, actor, username: str, role: str) -> TeamMembership:
    """A team admin gives a user (by user name) a role in the team. Audited by the membership table's trigger."""
    _require_team_admin(actor, team)
    problems = {}
    user = User.objects.filter(username=(username or "").strip(), is_active=True).first()
    if user is None:
        problems["username"] = "no active user has this user name"
    if role not in TeamMembership.Role.values:
        problems["role"] = f"must be one of {', '.join(TeamMembership.Role.values)}"
    elif user is not None and TeamMembership.objects.filter(team=team, user=user, role=role).exists():
        problems["role"] = f"{user.get_username()} already holds this role in {team.name}"
    if problems:
        raise ValidationError(problems)
    return team_membership_add(user=user, role=role, team=team)


@transaction.atomic
def team_member_remove(*, membership: TeamMembership, actor) -> None:
    """A team admin takes one role away; the team's last team admin stays (someone must manage it)."""
    membership = TeamMembership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)
    _require_team_admin(actor, membership.team)
    if membership.role == TEAM_ADMIN and TeamMembership.objects.filter(team=membership.team, role=TEAM_ADMIN).count() == 1:
        raise ValidationError({"membership": "the team's last team admin cannot be removed; make another first"})
    membership.delete()
    forget_roles(membership.user)
