"""Teams and memberships: who sees which deployments, with which role."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from ..models import Team, TeamMembership, default_team_id
from ..roles import ALL_ROLES, forget_roles


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
