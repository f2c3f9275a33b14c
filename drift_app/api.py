from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .authentication import IngestionKeyFor, ingestion_key
from .models import ApiKey, Baseline, DriftRun
from .pagination import Pagination, paginated
from .roles import ALL_ROLES, COMPLIANCE, ML_ENGINEER, SME, HasRole
from .validation import PayloadInvalid, parse_iso_datetime, parse_samples


class DeploymentOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()
    team = serializers.CharField(source="team.slug")
    description = serializers.CharField()
    current_model_version = serializers.CharField()
    drift_window = serializers.CharField()
    drift_false_alarm_rate = serializers.FloatField()
    min_window_samples = serializers.IntegerField()
    novel_share_alert = serializers.FloatField()
    code_red_drop_pct = serializers.FloatField()
    review_drop_pct = serializers.FloatField()
    material_drop_pct = serializers.FloatField()
    created_at = serializers.DateTimeField()


# Who manages a team's deployments (create them, change their thresholds): its admins and ML engineers.
DEPLOYMENT_MANAGERS = ("team_admin", ML_ENGINEER)


class CanManageDeployments(IsAuthenticated):
    message = "Creating or changing deployments needs the team_admin or ml_engineer role in a team."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return super().has_permission(request, view) and user.is_active and (
            user.is_superuser or selectors.teams_of(user=user, roles=DEPLOYMENT_MANAGERS).exists())


def _may_manage(user, deployment) -> bool:
    return user.is_superuser or bool(selectors.team_roles(user=user, deployment=deployment) & set(DEPLOYMENT_MANAGERS))


class DeploymentSettingsSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    current_model_version = serializers.CharField(max_length=200, required=False)
    drift_window = serializers.ChoiceField(choices=["hourly", "daily", "weekly"], required=False)
    drift_false_alarm_rate = serializers.FloatField(required=False)
    min_window_samples = serializers.IntegerField(required=False)
    novel_share_alert = serializers.FloatField(required=False)
    code_red_drop_pct = serializers.FloatField(required=False)
    review_drop_pct = serializers.FloatField(required=False)
    material_drop_pct = serializers.FloatField(required=False)
    quality_drift_pct = serializers.FloatField(required=False)


class DeploymentCreateSerializer(DeploymentSettingsSerializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100)
    current_model_version = serializers.CharField(max_length=200)
    team = serializers.SlugField(required=False, help_text="Team slug; may be left out by a member of one team.")


def _unknown_field(data, serializer_class) -> Response | None:
    if not isinstance(data, dict):
        return Response({"detail": "Body must be a JSON object."}, status=400)
    unknown = sorted(set(data) - set(serializer_class().fields))
    if unknown:
        return Response({"detail": f"{unknown[0]}: unknown field.", unknown[0]: ["unknown field"]}, status=400)
    return None


class DeploymentListApi(ListAPIView):
    """Deployments of the caller's teams. POST (team admins, ML engineers of the team) creates one."""

    serializer_class = DeploymentOutputSerializer

    def get_permissions(self):
        if self.request.method == "POST":
            return [CanManageDeployments()]
        return [HasRole(ML_ENGINEER, SME, COMPLIANCE)()]

    def get_queryset(self):
        return selectors.deployment_list(user=self.request.user)

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentOutputSerializer})
    def post(self, request):
        try:
            data = request.data
        except ParseError as exc:
            return Response({"detail": f"Body is not valid JSON: {exc.detail}"}, status=400)
        refused = _unknown_field(data, DeploymentCreateSerializer)
        if refused:
            return refused
        serializer = DeploymentCreateSerializer(data=data)
        if not serializer.is_valid():
            return Response(serializer.errors, status=400)
        fields = dict(serializer.validated_data)
        managed = selectors.teams_of(user=request.user, roles=DEPLOYMENT_MANAGERS)
        team_slug = fields.pop("team", None)
        if team_slug is None:
            if managed.count() != 1:
                return Response({"team": ["is required: name the team that owns the deployment."]}, status=400)
            team = managed.get()
        else:
            team = selectors.team_get(slug=team_slug)
            if team is None or not (request.user.is_superuser or managed.filter(pk=team.pk).exists()):
                return Response({"team": [f"you do not manage a team {team_slug!r}."]}, status=400)
        try:
            deployment = services.deployment_create(team=team, **fields)
        except DjangoValidationError as exc:
            return Response(_django_errors(exc), status=400)
        return Response(DeploymentOutputSerializer(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailApi(APIView):
    """GET: one deployment. PATCH (team admins, ML engineers of its team): its window and thresholds."""

    def get_permissions(self):
        if self.request.method == "PATCH":
            return [CanManageDeployments()]
        return [HasRole(ML_ENGINEER, SME, COMPLIANCE)()]

    @extend_schema(responses=DeploymentOutputSerializer)
    def get(self, request, slug: str):
        return Response(DeploymentOutputSerializer(selectors.deployment_get(slug=slug, user=request.user)).data)

    @extend_schema(request=DeploymentSettingsSerializer, responses=DeploymentOutputSerializer)
    def patch(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        if not _may_manage(request.user, deployment):
            return Response({"detail": CanManageDeployments.message}, status=403)
        try:
            data = request.data
        except ParseError as exc:
            return Response({"detail": f"Body is not valid JSON: {exc.detail}"}, status=400)
        refused = _unknown_field(data, DeploymentSettingsSerializer)
        if refused:
            return refused
        serializer = DeploymentSettingsSerializer(data=data, partial=True)
        if not serializer.is_valid():
            return Response(serializer.errors, status=400)
        try:
            deployment = services.deployment_update(deployment=deployment, **serializer.validated_data)
        except DjangoValidationError as exc:
            return Response(_django_errors(exc), status=400)
        return Response(DeploymentOutputSerializer(deployment).data)


class SampleInputSerializer(serializers.Serializer):
    """Documentation of one record; validation is drift_app.validation.parse_samples."""

    external_id = serializers.CharField(max_length=200, help_text="Client id, unique per deployment.")
    prompt = serializers.CharField(help_text="Non-empty, no NUL characters, at most DRIFTDESK_MAX_PROMPT_CHARS.")
    prompt_system = serializers.CharField(
        required=False, allow_blank=True,
        help_text="Optional system/developer part of the prompt, stored apart: drift embeds `prompt` only.")
    response = serializers.CharField(allow_blank=True, help_text="At most DRIFTDESK_MAX_RESPONSE_CHARS.")
    model_version = serializers.CharField(required=False, help_text="Defaults to the deployment's current version.")
    timestamp = serializers.DateTimeField(help_text="ISO 8601 with time zone: when the answer was served.")
    metadata = serializers.DictField(required=False)
    scores = serializers.DictField(
        child=serializers.FloatField(), required=False,
        help_text='Optional label-free quality scores, names free, numbers only: {"reward": 0.82, "thumbs": -1}.',
    )


class SampleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    prompt = serializers.CharField()
    prompt_system = serializers.CharField()
    response = serializers.CharField()
    model_version = serializers.CharField()
    client_timestamp = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    metadata = serializers.DictField()
    scores = serializers.DictField()
    embedding_model = serializers.CharField()
    embedded_at = serializers.DateTimeField()


class MayIngestSamples(BasePermission):
    message = (f"This endpoint needs one of the roles: {ML_ENGINEER} (in the deployment's team), or an "
               f"ingestion key of this deployment with scope {ApiKey.Scope.INGEST_SAMPLES}.")

    def has_permission(self, request, view) -> bool:
        return (HasRole(ML_ENGINEER)().has_permission(request, view)
                or IngestionKeyFor(ApiKey.Scope.INGEST_SAMPLES)().has_permission(request, view))


class SampleIngestApi(APIView):
    """POST one sample or a list of up to DRIFTDESK_MAX_BATCH; GET lists stored samples."""

    def get_permissions(self):
        # Ingestion: client services use an ingestion key of this deployment (scope ingest:samples), which
        # can do nothing else; an ML engineer of the team may ingest too. SMEs and compliance read.
        if self.request.method == "POST":
            return [MayIngestSamples()]
        return [HasRole(ML_ENGINEER, SME, COMPLIANCE)()]

    @extend_schema(
        request=SampleInputSerializer(many=True),
        responses={
            201: inline_serializer(
                "IngestResult",
                {
                    "created": serializers.IntegerField(),
                    "existing": serializers.IntegerField(),
                    "samples": inline_serializer(
                        "IngestedSample",
                        {"external_id": serializers.CharField(), "id": serializers.IntegerField(),
                         "created": serializers.BooleanField()},
                        many=True,
                    ),
                },
            ),
            200: OpenApiResponse(description="All samples already stored (a retried request)."),
            400: OpenApiResponse(description="Invalid input; `errors` lists index, field and problem."),
            413: OpenApiResponse(description="Body over DRIFTDESK_MAX_BODY_BYTES."),
        },
    )
    def post(self, request, slug: str):
        key = ingestion_key(request, ApiKey.Scope.INGEST_SAMPLES)
        deployment = key.deployment if key is not None else selectors.deployment_get(slug=slug, user=request.user)
        try:
            payload = request.data
        except ParseError as exc:
            return Response({"detail": f"Body is not valid JSON: {exc.detail}"}, status=400)
        try:
            records, _ = parse_samples(
                payload,
                default_model_version=deployment.current_model_version,
                max_batch=settings.DRIFTDESK_MAX_BATCH,
                max_prompt_chars=settings.DRIFTDESK_MAX_PROMPT_CHARS,
                max_response_chars=settings.DRIFTDESK_MAX_RESPONSE_CHARS,
            )
        except PayloadInvalid as exc:
            return Response(
                {"detail": "Invalid samples; nothing was stored.", "errors": [p.as_dict() for p in exc.problems]},
                status=400,
            )
        result = services.samples_ingest(deployment=deployment, records=records)
        created = len(result.created_ids)
        body = {
            "created": created,
            "existing": len(result.samples) - created,
            "samples": [{"external_id": s.external_id, "id": s.id, "created": s.created} for s in result.samples],
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses=paginated(SampleOutputSerializer))
    def get(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.sample_list(deployment=deployment), request, view=self)
        return paginator.get_paginated_response(SampleOutputSerializer(page, many=True).data)


# --- Drift -------------------------------------------------------------------------------------




def _parse_when(data: dict, name: str) -> "dt.datetime":
    raw = data.get(name)
    if raw is None:
        raise serializers.ValidationError({name: "is required (ISO 8601 with a time zone)"})
    value, problem = parse_iso_datetime(raw)
    if problem:
        raise serializers.ValidationError({name: problem})
    return value


def _django_errors(exc: DjangoValidationError) -> dict:
    return exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}


class DriftRunOutputSerializer(serializers.ModelSerializer):
    deployment = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = DriftRun
        fields = [
            "id", "deployment", "baseline", "window_start", "window_end", "target", "trigger", "status",
            "sample_count", "evaluated_count", "missing_count", "long_text_share", "drifted", "results", "combined", "topics", "js", "js_threshold",
            "wasserstein", "mmd_p_value", "novel_share", "duration_seconds", "error", "requeue_count", "created_at",
            "finished_at",
        ]


class BaselineOutputSerializer(serializers.ModelSerializer):
    deployment = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Baseline
        fields = [
            "id", "deployment", "embedding_model", "period_start", "period_end", "max_samples", "sample_count",
            "status", "is_active", "error", "created_at", "fitted_at",
        ]


class DriftRunListCreateApi(APIView):
    """GET: the deployment's drift runs (filter ?target=&status=). POST: evaluate a window on demand."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [HasRole(ML_ENGINEER)()]
        return [HasRole(ML_ENGINEER, SME, COMPLIANCE)()]

    @extend_schema(operation_id="v1_deployments_drift_runs_list", responses=paginated(DriftRunOutputSerializer))
    def get(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        qs = selectors.drift_run_list(
            deployment=deployment, target=request.query_params.get("target"),
            status=request.query_params.get("status"),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(DriftRunOutputSerializer(page, many=True).data)

    @extend_schema(
        request=inline_serializer("DriftRunInput", {
            "window_start": serializers.DateTimeField(), "window_end": serializers.DateTimeField(),
            "target": serializers.ChoiceField(["prompts", "responses", "both"], default="both"),
        }),
        responses={202: DriftRunOutputSerializer(many=True)},
    )
    def post(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        data = request.data if isinstance(request.data, dict) else {}
        if not isinstance(request.data, dict):
            return Response({"detail": "Body must be a JSON object."}, status=400)
        start, end = _parse_when(data, "window_start"), _parse_when(data, "window_end")
        target = data.get("target", "both")
        if not isinstance(target, str) or target not in ("prompts", "responses", "both"):
            return Response({"target": f"must be one of prompts, responses, both; got {str(target)[:40]!r}"}, status=400)
        targets = ("prompts", "responses") if target == "both" else (target,)
        try:
            runs = services.drift_runs_create(
                deployment=deployment, window_start=start, window_end=end, targets=tuple(targets),
                trigger=DriftRun.Trigger.API,
            )
        except DjangoValidationError as exc:
            errors = _django_errors(exc)
            code = 409 if "baseline" in errors else 400
            return Response(errors, status=code)
        return Response(DriftRunOutputSerializer(runs, many=True).data, status=202)


class DriftRunDetailApi(APIView):
    permission_classes = [HasRole(ML_ENGINEER, SME, COMPLIANCE)]

    @extend_schema(responses=DriftRunOutputSerializer)
    def get(self, request, slug: str, run_id: int):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        return Response(DriftRunOutputSerializer(selectors.drift_run_get(deployment=deployment, run_id=run_id)).data)


class DriftRunRetryApi(APIView):
    """POST: queue a failed drift run again (an ML engineer; recorded in the audit trail)."""

    permission_classes = [HasRole(ML_ENGINEER)]

    @extend_schema(
        request=None,
        responses={202: DriftRunOutputSerializer,
                   409: OpenApiResponse(description="The run did not fail, or its window has another live run.")},
    )
    def post(self, request, slug: str, run_id: int):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        run = selectors.drift_run_get(deployment=deployment, run_id=run_id)
        try:
            run = services.drift_run_retry(run=run, user=request.user)
        except services.RetryRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(DriftRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class BaselineListCreateApi(APIView):
    """GET: the deployment's baselines. POST {period_start, period_end, max_samples?}: fit a new one."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [HasRole(ML_ENGINEER)()]
        return [HasRole(ML_ENGINEER, SME, COMPLIANCE)()]

    @extend_schema(responses=BaselineOutputSerializer(many=True))
    def get(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        return Response(BaselineOutputSerializer(selectors.baseline_list(deployment=deployment), many=True).data)

    @extend_schema(
        request=inline_serializer("BaselineInput", {
            "period_start": serializers.DateTimeField(), "period_end": serializers.DateTimeField(),
            "max_samples": serializers.IntegerField(default=50_000, min_value=200, max_value=200_000),
        }),
        responses={202: BaselineOutputSerializer},
    )
    def post(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        if not isinstance(request.data, dict):
            return Response({"detail": "Body must be a JSON object."}, status=400)
        data = request.data
        start, end = _parse_when(data, "period_start"), _parse_when(data, "period_end")
        max_samples = data.get("max_samples", 50_000)
        if not isinstance(max_samples, int) or isinstance(max_samples, bool) or not 200 <= max_samples <= 200_000:
            return Response({"max_samples": "must be an integer between 200 and 200000"}, status=400)
        try:
            baseline = services.baseline_create(
                deployment=deployment, period_start=start, period_end=end, max_samples=max_samples,
                user=request.user,
            )
        except DjangoValidationError as exc:
            return Response(_django_errors(exc), status=400)
        return Response(BaselineOutputSerializer(baseline).data, status=202)


# --- Personal API tokens and ingestion keys ---------------------------------------------------------


class ApiKeyOutputSerializer(serializers.Serializer):
    """A key as listed: never its secret (nor its hash)."""

    prefix = serializers.CharField()
    kind = serializers.CharField()
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    deployment = serializers.CharField(source="deployment.slug", allow_null=True, default=None)
    created_by = serializers.CharField(source="user.username")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    scopes = serializers.ListField(child=serializers.CharField(max_length=20), required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


def _key_input(request) -> tuple[dict | None, Response | None]:
    try:
        data = request.data
    except ParseError as exc:
        return None, Response({"detail": f"Body is not valid JSON: {exc.detail}"}, status=400)
    refused = _unknown_field(data, ApiKeyInputSerializer)
    if refused:
        return None, refused
    serializer = ApiKeyInputSerializer(data=data)
    if not serializer.is_valid():
        return None, Response(serializer.errors, status=400)
    return dict(serializer.validated_data), None


def _created(key, secret: str) -> Response:
    body = ApiKeyOutputSerializer(key).data
    body["secret"] = secret  # shown this once; only its SHA-256 is stored
    return Response(body, status=status.HTTP_201_CREATED)


class PersonalTokenListCreateApi(APIView):
    """Your own API tokens: GET lists them (no secrets), POST makes one (its secret is in this answer only)."""

    permission_classes = [HasRole(*ALL_ROLES)]

    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request):
        return Response(ApiKeyOutputSerializer(selectors.personal_tokens(user=request.user), many=True).data)

    @extend_schema(request=ApiKeyInputSerializer, responses={201: ApiKeyOutputSerializer})
    def post(self, request):
        data, refused = _key_input(request)
        if refused:
            return refused
        try:
            key, secret = services.personal_token_create(user=request.user, **data)
        except DjangoValidationError as exc:
            return Response(_django_errors(exc), status=400)
        return _created(key, secret)


class PersonalTokenRevokeApi(APIView):
    permission_classes = [HasRole(*ALL_ROLES)]

    @extend_schema(request=None, responses=ApiKeyOutputSerializer)
    def post(self, request, prefix: str):
        key = selectors.personal_token_get(user=request.user, prefix=prefix)
        try:
            key = services.api_key_revoke(key=key, user=request.user)
        except DjangoValidationError as exc:
            return Response(_django_errors(exc), status=400)
        return Response(ApiKeyOutputSerializer(key).data)


class _IngestionKeyApi(APIView):
    permission_classes = [CanManageDeployments]

    def _deployment(self, request, slug):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        if not _may_manage(request.user, deployment):
            self.permission_denied(request, message=CanManageDeployments.message)
        return deployment


class IngestionKeyListCreateApi(_IngestionKeyApi):
    """A deployment's ingestion keys (team admins and ML engineers of its team): list without secrets, make one."""

    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request, slug: str):
        deployment = self._deployment(request, slug)
        return Response(ApiKeyOutputSerializer(selectors.ingestion_keys(deployment=deployment), many=True).data)

    @extend_schema(request=ApiKeyInputSerializer, responses={201: ApiKeyOutputSerializer})
    def post(self, request, slug: str):
        deployment = self._deployment(request, slug)
        data, refused = _key_input(request)
        if refused:
            return refused
        data.setdefault("scopes", [ApiKey.Scope.INGEST_SAMPLES])
        try:
            key, secret = services.ingestion_key_create(deployment=deployment, user=request.user, **data)
        except DjangoValidationError as exc:
            return Response(_django_errors(exc), status=400)
        return _created(key, secret)


class IngestionKeyRevokeApi(_IngestionKeyApi):
    @extend_schema(request=None, responses=ApiKeyOutputSerializer)
    def post(self, request, slug: str, prefix: str):
        deployment = self._deployment(request, slug)
        key = selectors.ingestion_key_get(deployment=deployment, prefix=prefix)
        try:
            key = services.api_key_revoke(key=key, user=request.user)
        except DjangoValidationError as exc:
            return Response(_django_errors(exc), status=400)
        return Response(ApiKeyOutputSerializer(key).data)
class QualityEvidenceApi(APIView):
    """GET ?window_start=&window_end= (default: the last complete window): label-free quality evidence of one
    window against the baseline period.

    Per quality score: baseline and window means, relative change with a 95% CI, Mann-Whitney U p-value,
    beyond the deployment's band (quality_drift_pct) or not; relevance and response length as context.
    """

    permission_classes = [HasRole(ML_ENGINEER, SME, COMPLIANCE)]

    @extend_schema(responses=inline_serializer("QualityEvidence", {
        "window": serializers.DictField(), "baseline_period": serializers.DictField(allow_null=True),
        "band_pct": serializers.FloatField(), "scores": serializers.ListField(child=serializers.DictField()),
        "context": serializers.DictField(), "degraded": serializers.BooleanField(),
        "degraded_scores": serializers.ListField(child=serializers.CharField()), "note": serializers.CharField(),
    }))
    def get(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        params = request.query_params
        if "window_start" not in params and "window_end" not in params:
            # No window asked for: the deployment's last complete window.
            from django.utils import timezone

            start, end = services.last_complete_window(deployment=deployment, now=timezone.now())
        else:
            start, end = _parse_when(params, "window_start"), _parse_when(params, "window_end")
        if end <= start:
            raise serializers.ValidationError({"window_end": "must be after window_start"})
        return Response(selectors.quality_evidence(deployment=deployment, start=start, end=end))
