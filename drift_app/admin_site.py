from django.contrib import admin

from .roles import ML_ENGINEER, has_role


class DriftdeskAdminSite(admin.AdminSite):
    site_header = "Driftdesk administration"
    site_title = "Driftdesk admin"

    def has_permission(self, request) -> bool:
        # ML engineers run the system; they need no is_staff flag. Everyone else is kept out.
        return has_role(request.user, ML_ENGINEER)
