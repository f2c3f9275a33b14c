from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class DriftdeskAdminConfig(AdminConfig):
    # The admin is for ML engineers and superusers only (see DriftdeskAdminSite).
    default_site = "drift_app.admin_site.DriftdeskAdminSite"


class DriftAppConfig(AppConfig):
    name = "drift_app"
    verbose_name = "Drift"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Bind @shared_task to our Celery app here, not in drift_app/__init__.py: drift_app.stats must
        # import without Django or Celery.
        from django.db.models.signals import post_migrate

        from . import (
            celery,  # noqa: F401
            roles,
        )

        # No sender: it must run after every app's permissions exist (goldenset, feedback, beat...).
        post_migrate.connect(roles.grant_ml_engineer_admin_permissions, dispatch_uid="driftdesk_ml_engineer_perms")
