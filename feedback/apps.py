from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Flag labels calibrate the golden-set judge too; goldenset sits below feedback and cannot import
        # it, so feedback hands its source to goldenset's registry.
        from goldenset import selectors as golden_selectors

        from . import integrations, selectors

        golden_selectors.judge_calibration_source_register("flag labels", selectors.judge_calibration_pairs)
        # Tool scores that arrived before their trace are applied when its samples are stored.
        integrations.connect_signals()
