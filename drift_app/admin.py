from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from .models import (
    Baseline,
    BaselineCalibration,
    Deployment,
    DriftRun,
    ProductionSample,
    ApiKey,
    Team,
    TeamMembership,
)


class EvidenceReadOnly:
    """Evidence (samples, drift runs, verdicts, evaluation results) is read in the admin, never edited:
    an edit would change what past verdicts and reports were computed from."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "current_model_version", "drift_window", "updated_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(ProductionSample)
class ProductionSampleAdmin(EvidenceReadOnly, admin.ModelAdmin):
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
class DriftRunAdmin(EvidenceReadOnly, admin.ModelAdmin):
    list_display = ("deployment", "target", "window_start", "window_end", "status", "sample_count", "drifted", "js", "novel_share")
    list_filter = ("deployment", "target", "status", "drifted")
    readonly_fields = [f.name for f in DriftRun._meta.fields]


class _SuperusersOnly:
    """Users, groups and API tokens: superusers only, whatever permissions a role was given.

    A user or group admin lets its holder set is_superuser, is_staff, permissions and roles (their own
    included), and the token admin shows every user's secret; below superuser, all of it answers 403.
    """

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


class DriftdeskUserAdmin(_SuperusersOnly, UserAdmin):
    pass


class DriftdeskGroupAdmin(_SuperusersOnly, GroupAdmin):
    pass


for _model, _admin in ((User, DriftdeskUserAdmin), (Group, DriftdeskGroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)


def _lock_token_admin() -> None:
    from rest_framework.authtoken.admin import TokenAdmin
    from rest_framework.authtoken.models import TokenProxy

    if not admin.site.is_registered(TokenProxy):
        return

    class DriftdeskTokenAdmin(_SuperusersOnly, TokenAdmin):
        pass

    admin.site.unregister(TokenProxy)
    admin.site.register(TokenProxy, DriftdeskTokenAdmin)


_lock_token_admin()


@admin.register(Team)
class TeamAdmin(_SuperusersOnly, admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(TeamMembership)
class TeamMembershipAdmin(_SuperusersOnly, admin.ModelAdmin):
    # A membership is a role: granting one is a superuser's act, like the role groups.
    list_display = ("team", "user", "role", "created_at")
    list_filter = ("team", "role")


@admin.register(ApiKey)
class ApiKeyAdmin(_SuperusersOnly, admin.ModelAdmin):
    # Secrets are never stored; the hash is not shown either. Keys are made and revoked through the API.
    list_display = ("prefix", "kind", "name", "user", "deployment", "scopes", "created_at", "expires_at", "revoked_at")
    list_filter = ("kind", "deployment")
    exclude = ("secret_hash",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
