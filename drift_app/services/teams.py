"""Teams and memberships: who sees which deployments, with which role."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from ..models import Team, TeamMembership, default_team_id
from ..roles import ALL_ROLES


@transaction.atomic
def team_membership_add(*, user, role: str, team: Team | None = None) -> TeamMembership:
    """Make `user` a member of `team` (the default team when None) with `role`.

    A role in a team also puts the user in the installation-wide role group that pages and endpoints
    check; the team decides which deployments those pages show (another team's answer 404).
    """
    if role not in TeamMembership.Role.values:
        raise ValueError(f"unknown role {role!r}")
    team = team or Team.objects.get(pk=default_team_id())
    if role in ALL_ROLES:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return TeamMembership.objects.get_or_create(team=team, user=user, role=role)[0]
