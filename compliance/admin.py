"""Read-only admin: audit events and reports are written by services and never edited (the DB refuses)."""

from django.contrib import admin

from .models import AuditEvent, ComplianceReport


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(_ReadOnly):
    list_display = ("at", "actor_username", "action", "object_type", "object_id", "object_repr")
    list_filter = ("action", "object_type", "source")
    search_fields = ("actor_username", "object_repr", "object_id")


@admin.register(ComplianceReport)
class ComplianceReportAdmin(_ReadOnly):
    list_display = ("id", "deployment", "period_start", "period_end", "material_degradation", "generated_by_username",
                    "generated_at", "figures_sha256")
    list_filter = ("material_degradation", "trigger")
    exclude = ("pdf",)
