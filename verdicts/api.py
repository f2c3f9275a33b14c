"""API: one view per operation, nested input/output serializers."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from drift_app import selectors as drift_selectors
from drift_app.pagination import Pagination, paginated
from drift_app.roles import ML_ENGINEER, HasRole

from . import selectors, services
from .views import CURATORS, READERS, RESPONDERS


def _error(exc: ValidationError) -> Response:
    status = 409 if isinstance(exc, services.AlertStateError) else 400
    if hasattr(exc, "error_dict"):
        errors = {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        return Response({"detail": detail, "errors": errors}, status=status)
    return Response({"detail": " ".join(exc.messages)}, status=status)


class WindowFilterSerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)


class VerdictOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deployment = serializers.CharField(source="deployment.slug")
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    verdict_class = serializers.CharField()
    explanation = serializers.CharField()
    golden_pass_rate = serializers.FloatField(allow_null=True)
    baseline_pass_rate = serializers.FloatField(allow_null=True)
    relative_drop_pct = serializers.FloatField(allow_null=True)
    material_degradation = serializers.BooleanField()
    prompt_drift = serializers.BooleanField(allow_null=True)
    response_drift = serializers.BooleanField(allow_null=True)
    # The structured evidence: one entry per source (golden, flags, prompt_drift, response_drift,
    # quality), each with its test, statistic, p-value or interval and what was missing.
    evidence = serializers.JSONField(source="inputs.evidence", default=list)
    inputs = serializers.JSONField()
    version = serializers.IntegerField()
    superseded_at = serializers.DateTimeField(allow_null=True)
    superseded_by = serializers.IntegerField(source="superseded_by_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class VerdictListComputeApi(APIView):
    """GET: a deployment's verdicts (optionally those overlapping [start, end)). POST: compute one window."""

    class InputSerializer(serializers.Serializer):
        window_start = serializers.DateTimeField()
        window_end = serializers.DateTimeField()

        class Meta:
            ref_name = "VerdictComputeInput"

    def get_permissions(self):
        roles = (ML_ENGINEER,) if self.request.method == "POST" else READERS
        return [HasRole(*roles)()]

    @extend_schema(parameters=[WindowFilterSerializer], responses=paginated(VerdictOutputSerializer))
    def get(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        filters = WindowFilterSerializer(data=request.query_params)
        if not filters.is_valid():
            return Response({"detail": "Invalid filter.", "errors": filters.errors}, status=400)
        qs = selectors.verdict_list(deployment=deployment, **filters.validated_data, viewer=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(VerdictOutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: VerdictOutputSerializer})
    def post(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            return Response({"detail": "Invalid window.", "errors": body.errors}, status=400)
        try:
            verdict = services.verdict_compute(deployment=deployment, **body.validated_data)
        except ValidationError as exc:
            return _error(exc)
        return Response(VerdictOutputSerializer(verdict).data, status=201)


class AlertOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deployment = serializers.CharField(source="deployment.slug")
    signal = serializers.CharField()
    tier = serializers.CharField()
    status = serializers.CharField()
    title = serializers.CharField()
    opened_at = serializers.DateTimeField()
    opened_by_verdict = serializers.IntegerField(source="opened_by_verdict_id")
    escalated_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True, default=None)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_comment = serializers.CharField()
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True, default=None)
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_comment = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)


class AlertListApi(APIView):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(parameters=[WindowFilterSerializer], responses=paginated(AlertOutputSerializer))
    def get(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        filters = WindowFilterSerializer(data=request.query_params)
        if not filters.is_valid():
            return Response({"detail": "Invalid filter.", "errors": filters.errors}, status=400)
        qs = selectors.alert_list(deployment=deployment, **filters.validated_data, viewer=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(AlertOutputSerializer(page, many=True).data)


class AlertDetailApi(APIView):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses=AlertOutputSerializer)
    def get(self, request, pk: int):
        return Response(AlertOutputSerializer(selectors.alert_get(pk=pk, user=request.user)).data)


class _AlertActionApi(APIView):
    permission_classes = [HasRole(*RESPONDERS)]
    # The service that moves the alert on: set by each concrete view.
    alert_service = None

    class InputSerializer(serializers.Serializer):
        comment = serializers.CharField(max_length=services.MAX_COMMENT_CHARS)

        class Meta:
            ref_name = "AlertActionInput"

    @extend_schema(request=InputSerializer, responses=AlertOutputSerializer)
    def post(self, request, pk: int):
        alert = selectors.alert_get(pk=pk, user=request.user)
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            return Response({"detail": "A comment is required: say what you checked or did.", "errors": body.errors}, status=400)
        try:
            alert = type(self).alert_service(alert=alert, user=request.user, comment=body.validated_data["comment"])
        except ValidationError as exc:
            return _error(exc)
        return Response(AlertOutputSerializer(selectors.alert_get(pk=alert.pk, user=request.user)).data)


class AlertAcknowledgeApi(_AlertActionApi):
    alert_service = staticmethod(services.alert_acknowledge)


class AlertResolveApi(_AlertActionApi):
    alert_service = staticmethod(services.alert_resolve)


class AdviceExportApi(APIView):
    """The new-topic prompts of one retraining advice as JSON lines."""

    permission_classes = [HasRole(*CURATORS)]

    @extend_schema(responses={(200, "application/jsonl"): str})
    def get(self, request, pk: int):
        advice = selectors.retraining_advice_get(pk=pk, user=request.user)
        return HttpResponse(services.advice_export_jsonl(advice=advice), content_type="application/jsonl; charset=utf-8")

