"""Whether to show an action on an object: the role must be held in the object's team, not in any team.

    {% load team_roles %}{% team_role s.deployment "power_user" as row_can_flag %}

A user who is an SME in team A and a power user in team B sees no SME action on team B's objects
(issue 14). Memberships are read once per request (drift_app.roles._memberships).
"""

from __future__ import annotations

from django import template

from drift_app.roles import has_role

register = template.Library()


def team_of(obj) -> int | None:
    """The team id of a deployment, or of anything that belongs to one (a sample, flag, alert, run...)."""
    if obj is None:
        return None
    if hasattr(obj, "team_id"):
        return obj.team_id
    deployment = getattr(obj, "deployment", None)
    return getattr(deployment, "team_id", None)


@register.simple_tag(takes_context=True)
def team_role(context, obj, *roles: str) -> bool:
    team = team_of(obj)
    if team is None:
        return False
    return has_role(context["request"].user, *roles, team=team)
