from django.apps import AppConfig


class VerdictsConfig(AppConfig):
    name = "verdicts"
    label = "verdicts"
    verbose_name = "Verdicts and alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_grant_ml_engineer, sender=self)

        from drift_app.ops import register_collector

        from . import metrics

        register_collector(metrics.collect)

        from drift_app.metric_sinks import register_source

        from .metric_source import verdict_record

        register_source("verdict", verdict_record)


def _grant_ml_engineer(sender, **kwargs) -> None:
    # drift_app.roles grants admin permissions per app label; this app's label is not in its list.
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="ml_engineer")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="verdicts"))
