from django.apps import AppConfig


class GoldensetConfig(AppConfig):
    name = "goldenset"
    default_auto_field = "django.db.models.BigAutoField"
