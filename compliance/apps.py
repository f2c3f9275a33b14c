from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    label = "compliance"
    verbose_name = "Compliance: reports and audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import audit

        # Models of apps that are not installed (a slimmed-down deployment, a half-wired branch) are
        # skipped, never an error: see audit.register_tracked_models.
        audit.register_tracked_models()
        post_migrate.connect(_grant_ml_engineer, sender=self, dispatch_uid="compliance_ml_engineer_perms")


def _grant_ml_engineer(sender, **kwargs) -> None:
    # drift_app.roles grants admin permissions per app label; this app's label is not in its list.
    # View-only: reports and audit events are written by services, never edited in the admin.
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="ml_engineer")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="compliance", codename__startswith="view_")
    )
