"""Roles are Django groups, created by migration drift_app.0002_create_role_groups.

Every page and API endpoint names the roles that may use it; superusers pass every check.
"""

from __future__ import annotations

from django.contrib.auth.mixins import AccessMixin
from rest_framework.permissions import BasePermission

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


def user_roles(user) -> set[str]:
    if not user or not user.is_authenticated:
        return set()
    cached = getattr(user, "_driftdesk_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._driftdesk_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(user_roles(user) & set(roles))


def HasRole(*roles: str) -> type[BasePermission]:
    """DRF permission class factory: `permission_classes = [HasRole(SME, ML_ENGINEER)]`."""

    class _HasRole(BasePermission):
        message = f"This endpoint needs one of the roles: {', '.join(roles)}."

        def has_permission(self, request, view) -> bool:
            return has_role(request.user, *roles)

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
