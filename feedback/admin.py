from django.contrib import admin

from .models import Adjudication, DeploymentFeedbackSettings, Flag, Label, Promotion


@admin.register(DeploymentFeedbackSettings)
class DeploymentFeedbackSettingsAdmin(admin.ModelAdmin):
    list_display = ("deployment", "overlap", "claim_minutes", "score_flag_thresholds")
    list_select_related = ("deployment",)


class LabelInline(admin.TabularInline):
    model = Label
    extra = 0
    readonly_fields = ("sme", "label", "comment", "corrected_answer", "created_at")
    can_delete = False


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ("id", "deployment", "sample", "flagged_by", "reason", "status", "final_label", "created_at")
    list_filter = ("deployment", "status", "reason", "final_label")
    list_select_related = ("deployment", "sample", "flagged_by")
    # Flags are evidence: readable here, changed only through the triage workflow.
    readonly_fields = [f.name for f in Flag._meta.fields]
    inlines = [LabelInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ("flag", "adjudicator", "label", "created_at")
    readonly_fields = [f.name for f in Adjudication._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ("flag", "golden_item", "sample", "promoted_by", "at")
    readonly_fields = [f.name for f in Promotion._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
