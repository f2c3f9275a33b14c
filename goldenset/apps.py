from django.apps import AppConfig


class GoldensetConfig(AppConfig):
    name = "goldenset"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from drift_app.ops import register_collector

        from . import metrics

        register_collector(metrics.collect)

        from drift_app.metric_sinks import register_source

        from .metric_source import eval_run_record

        register_source("eval_run", eval_run_record)
