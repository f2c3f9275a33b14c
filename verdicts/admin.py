from django.contrib import admin

from drift_app.admin import EvidenceReadOnly

from .models import Alert, AlertDelivery, AlertPolicy, RetrainingAdvice, Verdict


@admin.register(AlertPolicy)
class AlertPolicyAdmin(admin.ModelAdmin):
    list_display = ("deployment", "code_red_open_after", "review_open_after", "close_after", "flag_alpha", "webhook_url")


@admin.register(Verdict)
class VerdictAdmin(EvidenceReadOnly, admin.ModelAdmin):
    list_display = ("deployment", "window_start", "window_end", "verdict_class", "relative_drop_pct", "material_degradation")
    list_filter = ("verdict_class", "material_degradation", "deployment")
    readonly_fields = [f.name for f in Verdict._meta.fields]


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    readonly_fields = ("channel", "target", "attempt", "status_code", "ok", "error", "at")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("id", "deployment", "signal", "tier", "status", "opened_at", "closed_at")
    list_filter = ("tier", "status", "signal", "deployment")
    inlines = [AlertDeliveryInline]
    # The audit trail is written by the services (acknowledge/resolve with a comment), not edited here.
    readonly_fields = [f.name for f in Alert._meta.fields]


@admin.register(RetrainingAdvice)
class RetrainingAdviceAdmin(admin.ModelAdmin):
    list_display = ("deployment", "verdict", "created_at")
    readonly_fields = ("deployment", "verdict", "created_at", "topics", "reason")
