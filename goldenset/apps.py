from django.apps import AppConfig


class GoldensetConfig(AppConfig):
    name = "goldenset"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from drift_app.ops import register_collector

        from . import metrics

        register_collector(metrics.collect)
