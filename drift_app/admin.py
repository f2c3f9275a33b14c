from django.contrib import admin

from .models import Deployment, ProductionSample


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
