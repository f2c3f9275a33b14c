from django.contrib import admin

from .models import EvalConfig, EvalRun, GoldenItem, GoldenSetVersion


@admin.register(GoldenItem)
class GoldenItemAdmin(admin.ModelAdmin):
    # Read-only here: changes go through the SME pages so that four eyes and history hold.
    list_display = ("id", "category", "status", "author", "approver", "updated_at")
    list_filter = ("status", "category", "source")
    search_fields = ("prompt", "reference_answer")
    exclude = ("prompt_embedding",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GoldenSetVersion)
class GoldenSetVersionAdmin(GoldenItemAdmin):
    list_display = ("number", "content_hash", "item_count", "created_by", "created_at")
    list_filter = ()
    search_fields = ("content_hash",)
    exclude = ()


@admin.register(EvalRun)
class EvalRunAdmin(GoldenItemAdmin):
    list_display = ("id", "deployment", "model_version", "status", "pass_rate", "relative_drop_pct", "is_baseline")
    list_filter = ("deployment", "status")
    search_fields = ("model_version",)
    exclude = ()


@admin.register(EvalConfig)
class EvalConfigAdmin(admin.ModelAdmin):
    list_display = ("deployment", "endpoint_base_url", "endpoint_model", "similarity_threshold", "schedule_cron")

    def save_model(self, request, obj, form, change):
        from .services import eval_schedule_sync

        super().save_model(request, obj, form, change)
        # Keep the django-celery-beat task in step with the cron edited here.
        eval_schedule_sync(config=obj)
