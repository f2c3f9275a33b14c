from django.contrib import admin

from .models import (
    Baseline,
    BaselineCalibration,
    Deployment,
    DriftRun,
    ProductionSample,
)


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "current_model_version", "drift_window", "updated_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(ProductionSample)
class ProductionSampleAdmin(admin.ModelAdmin):
    list_display = ("external_id", "deployment", "model_version", "client_timestamp", "embedding_model")
    list_filter = ("deployment", "model_version", "embedding_model")
    search_fields = ("external_id", "prompt")
    # Vectors are 384 floats: not for editing by hand.
    exclude = ("prompt_embedding", "response_embedding")
    readonly_fields = ("received_at", "embedded_at", "embedding_model")
    list_select_related = ("deployment",)
    show_full_result_count = False




@admin.register(Baseline)
class BaselineAdmin(admin.ModelAdmin):
    list_display = ("deployment", "period_start", "period_end", "sample_count", "status", "is_active", "fitted_at")
    list_filter = ("deployment", "status", "is_active")
    exclude = ("sample_ids", "prompt_artifact", "response_artifact")
    readonly_fields = ("sample_count", "status", "fitted_at", "error", "embedding_model")

    def has_change_permission(self, request, obj=None):
        # Frozen once fitted: only is_active may change, through the service; the admin reads.
        if obj is not None and obj.frozen:
            return False
        return super().has_change_permission(request, obj)


@admin.register(BaselineCalibration)
class BaselineCalibrationAdmin(admin.ModelAdmin):
    list_display = ("baseline", "target", "window_size", "false_alarm_rate", "created_at")
    exclude = ("artifact",)


@admin.register(DriftRun)
class DriftRunAdmin(admin.ModelAdmin):
    list_display = ("deployment", "target", "window_start", "window_end", "status", "sample_count", "drifted", "js", "novel_share")
    list_filter = ("deployment", "target", "status", "drifted")
    readonly_fields = [f.name for f in DriftRun._meta.fields]
