"""Roles are held per team: a user's role comes from their membership in the team that owns the object.

A user can be an SME in team A and a power user in team B. Every page and API endpoint names the roles
that may use it: the entry check (`HasRole`, `RoleRequiredMixin`) passes when the user holds one of them in
some team, and records them as the request's *acting roles*; every team-scoped selector
(`drift_app.selectors.deployments_visible`, `teams_acting`, the golden set's) then shows only the teams in
which the user holds one of those roles, so another team's object, or one of a team where the user holds
another role, answers 404. Services check the role in the object's team again (`has_role(..., team=)`).

The installation-wide role groups (drift_app.0003) are no longer consulted for access: they only carry the
admin site's model permissions. Superusers are separate and pass every check.
"""

from __future__ import annotations

from django.contrib.auth.mixins import AccessMixin
from rest_framework.permissions import BasePermission

from .models import TeamMembership

POWER_USER = "power_user"
SME = "sme"
COMPLIANCE = "compliance"
ML_ENGINEER = "ml_engineer"
ALL_ROLES = (POWER_USER, SME, COMPLIANCE, ML_ENGINEER)

ROLE_LABELS = {
    POWER_USER: "Power user",
    SME: "Subject-matter expert",
    COMPLIANCE: "Compliance officer",
    ML_ENGINEER: "ML engineer",
}


TEAM_ADMIN = "team_admin"
_ACTING = "_driftdesk_acting_roles"


def _memberships(user) -> dict[int, set[str]]:
    """{team id: roles} of `user`, read once per user object (one request)."""
    cached = getattr(user, "_driftdesk_memberships", None)
    if cached is None:
        cached = {}
        for team_id, role in TeamMembership.objects.filter(user=user).values_list("team_id", "role"):
            cached.setdefault(team_id, set()).add(role)
        user._driftdesk_memberships = cached
    return cached


def forget_roles(user) -> None:
    """Drop the per-object cache (after a membership of `user` changed)."""
    user.__dict__.pop("_driftdesk_memberships", None)


def user_roles(user) -> set[str]:
    """Every role `user` holds in some team (for navigation: which pages to offer)."""
    if not user or not user.is_authenticated:
        return set()
    return set().union(*_memberships(user).values()) & set(ALL_ROLES)


def team_roles_of(user, team_id: int) -> set[str]:
    if not user or not user.is_authenticated:
        return set()
    return set(_memberships(user).get(team_id, set()))


def has_role(user, *roles: str, team=None) -> bool:
    """Whether `user` holds one of `roles` in `team` (a Team or its id), or in some team when team is None."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if team is None:
        return bool(set().union(*_memberships(user).values(), set()) & set(roles))
    team_id = getattr(team, "pk", team)
    return bool(team_roles_of(user, team_id) & set(roles))


def team_ids_with_role(user, roles: tuple[str, ...] | None = None) -> list[int]:
    """Teams in which `user` holds one of `roles` (any role when None); not for superusers (they see all)."""
    wanted = set(roles) if roles is not None else None
    return sorted(t for t, held in _memberships(user).items() if wanted is None or held & wanted)


def act_with(user, roles: tuple[str, ...]) -> None:
    """Record the roles the current request acts with: scoped selectors then show only those teams."""
    setattr(user, _ACTING, tuple(roles))


def acting_roles(user) -> tuple[str, ...] | None:
    """The roles the request acts with (None: any role the user holds, e.g. the home page)."""
    return getattr(user, _ACTING, None)


def HasRole(*roles: str) -> type[BasePermission]:
    """DRF permission class factory: `permission_classes = [HasRole(SME, ML_ENGINEER)]`."""

    class _HasRole(BasePermission):
        message = f"This endpoint needs one of the roles: {', '.join(roles)}."

        def has_permission(self, request, view) -> bool:
            if not has_role(request.user, *roles):
                return False
            act_with(request.user, roles)
            return True

    _HasRole.__name__ = f"HasRole_{'_'.join(roles)}"
    return _HasRole


class RoleRequiredMixin(AccessMixin):
    """Class-based views: anonymous users go to the login page, users without the role get 403."""

    allowed_roles: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_role(request.user, *self.allowed_roles):
            self.raise_exception = True
            # The 403 page says which role opens this page (templates/403.html shows the message).
            self.permission_denied_message = needed_roles_message(self.allowed_roles)
            return self.handle_no_permission()
        act_with(request.user, tuple(self.allowed_roles))
        return super().dispatch(request, *args, **kwargs)


def needed_roles_message(roles: tuple[str, ...]) -> str:
    names = [ROLE_LABELS[r] for r in ALL_ROLES if r in roles]
    if not names:
        return "This page is for administrators only."
    if len(names) == 1:
        return f"This page is for the {names[0].lower()} role."
    return f"This page is for these roles: {', '.join(n.lower() for n in names[:-1])} or {names[-1].lower()}."


def roles_context(request) -> dict:
    roles = user_roles(getattr(request, "user", None))
    user = getattr(request, "user", None)
    superuser = bool(user and user.is_authenticated and user.is_superuser)
    return {
        "user_roles": roles,
        "role_labels": [ROLE_LABELS[r] for r in ALL_ROLES if r in roles],
        "is_power_user": superuser or POWER_USER in roles,
        "is_sme": superuser or SME in roles,
        "is_compliance": superuser or COMPLIANCE in roles,
        "is_ml_engineer": superuser or ML_ENGINEER in roles,
        "is_team_manager": superuser or has_role(user, TEAM_ADMIN, ML_ENGINEER),
    }


# Never granted to a role: with auth.* an ML engineer could make themselves superuser or join any
# group, and with authtoken.* read every user's API token. Users, groups and tokens are superusers' work.
PRIVILEGED_APPS = ("auth", "authtoken")


def grant_ml_engineer_admin_permissions(sender, **kwargs) -> None:
    """After migrations, give ml_engineer the model permissions of the app's own models (not auth.*).

    Permissions only exist after post_migrate of each app, so this cannot live in a data migration.
    It also takes back auth.* and authtoken.* from installations made before they were withheld.
    """
    from django.contrib.auth.models import Group, Permission

    # The groups come from a data migration; a test database flush removes them, and the
    # post_migrate that follows a flush puts them back here.
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
    group = Group.objects.get(name=ML_ENGINEER)
    wanted = Permission.objects.filter(
        content_type__app_label__in=["drift_app", "goldenset", "feedback", "django_celery_beat"]
    )
    group.permissions.add(*wanted)
    for role in Group.objects.filter(name__in=ALL_ROLES):
        role.permissions.remove(*Permission.objects.filter(content_type__app_label__in=PRIVILEGED_APPS))
