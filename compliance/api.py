"""API for compliance reports and the audit trail. Compliance officers and ML engineers only."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from drift_app import selectors as drift_selectors
from drift_app.pagination import Pagination, paginated
from drift_app.models import Deployment
from drift_app.roles import COMPLIANCE, ML_ENGINEER, HasRole

from . import forms, selectors, services
from .models import ComplianceReport

READERS = (COMPLIANCE, ML_ENGINEER)


def _problem(exc: ValidationError) -> Response:
    return Response(forms.error_dict(exc), status=status.HTTP_400_BAD_REQUEST)


def _deployment(slug: str, *, user, field: str = "deployment") -> Deployment:
    deployment = drift_selectors.deployment_find(slug=slug, user=user)
    if deployment is None:
        raise ValidationError({field: f"no deployment with slug {slug!r}."})
    return deployment


class ReportOutputSerializer(serializers.ModelSerializer):
    deployment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = ComplianceReport
        fields = ["id", "deployment", "period_start", "period_end", "material_degradation", "figures_sha256",
                  "pdf_sha256", "csv_sha256", "json_sha256", "generator", "generated_at", "generated_by_username",
                  "trigger", "duration_seconds", "audit_chain_head", "downloads"]

    def get_downloads(self, report) -> dict:
        base = f"/api/v1/compliance/reports/{report.pk}"
        return {"pdf": f"{base}/pdf", "csv": f"{base}/csv", "json": f"{base}/json"}


class ReportDetailOutputSerializer(ReportOutputSerializer):
    class Meta(ReportOutputSerializer.Meta):
        fields = [*ReportOutputSerializer.Meta.fields, "figures"]


class ReportListApi(APIView):
    """List stored reports (newest first) or generate one for a deployment and period."""

    permission_classes = [HasRole(*READERS)]

    class InputSerializer(serializers.Serializer):
        deployment = serializers.SlugField(help_text="The deployment's slug.")
        month = serializers.CharField(required=False, allow_blank=True, help_text="e.g. 2026-03; or start and end.")
        start = serializers.CharField(required=False, allow_blank=True, help_text="Date or ISO 8601 time with zone.")
        end = serializers.CharField(required=False, allow_blank=True, help_text="Exclusive; date or ISO 8601 time with zone.")

        class Meta:
            ref_name = "ReportGenerateInput"

    @extend_schema(operation_id="v1_compliance_reports_list",
                   parameters=[OpenApiParameter("deployment", str, description="Only this deployment's reports.")],
                   responses=paginated(ReportOutputSerializer))
    def get(self, request):
        slug = request.query_params.get("deployment", "")
        try:
            deployment = _deployment(slug, user=request.user) if slug else None
        except ValidationError as exc:
            return _problem(exc)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.report_list(deployment=deployment, viewer=request.user), request, view=self)
        return paginator.get_paginated_response(ReportOutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ReportDetailOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        if not data.is_valid():
            return Response(data.errors, status=status.HTTP_400_BAD_REQUEST)
        v = data.validated_data
        try:
            deployment = _deployment(v["deployment"], user=request.user)
            start, end = forms.parse_period(month=v.get("month", ""), start=v.get("start", ""), end=v.get("end", ""))
            report = services.report_generate(deployment=deployment, start=start, end=end, user=request.user,
                                              trigger=ComplianceReport.Trigger.API)
        except ValidationError as exc:
            return _problem(exc)
        return Response(ReportDetailOutputSerializer(report).data, status=status.HTTP_201_CREATED)


class ReportDetailApi(APIView):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(responses=ReportDetailOutputSerializer)
    def get(self, request, pk: int):
        return Response(ReportDetailOutputSerializer(selectors.report_get(pk=pk, user=request.user)).data)


CONTENT_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8", "json": "application/json"}


def download(report: ComplianceReport, fmt: str) -> HttpResponse:
    """The stored bytes of one rendering, with its SHA-256 in a header (shared with the pages)."""
    from . import render

    if fmt == "pdf":
        body, digest = bytes(report.pdf), report.pdf_sha256
    elif fmt == "csv":
        body, digest = report.csv.encode(), report.csv_sha256
    else:
        body, digest = render.as_json(report.figures).encode(), report.json_sha256
    services.report_downloaded(report=report, fmt=fmt)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{report.filename_stem}.{fmt}"'
    response["X-Content-SHA256"] = digest
    response["X-Figures-SHA256"] = report.figures_sha256
    return response


class ReportDownloadApi(APIView):
    """The stored PDF, CSV or JSON of a report, byte for byte as generated."""

    permission_classes = [HasRole(*READERS)]

    @extend_schema(operation_id="v1_compliance_reports_download",
                   responses={200: OpenApiResponse(description="The file; X-Content-SHA256 carries its hash.")})
    def get(self, request, pk: int, fmt: str):
        if fmt not in CONTENT_TYPES:
            return Response({"detail": f"Unknown format {fmt!r}; use pdf, csv or json."}, status=status.HTTP_404_NOT_FOUND)
        return download(selectors.report_get(pk=pk, user=request.user), fmt)


class ReportVerifyApi(APIView):
    """Recompute the report from the database and compare with the stored hashes."""

    permission_classes = [HasRole(*READERS)]

    class OutputSerializer(serializers.Serializer):
        report_id = serializers.IntegerField()
        ok = serializers.BooleanField()
        stored_pdf_intact = serializers.BooleanField()
        stored_figures_intact = serializers.BooleanField()
        figures_match = serializers.BooleanField()
        pdf_match = serializers.BooleanField()
        recomputed_figures_sha256 = serializers.CharField()
        recomputed_pdf_sha256 = serializers.CharField()
        differences = serializers.ListField(child=serializers.CharField())

        class Meta:
            ref_name = "ReportVerifyOutput"

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request, pk: int):
        result = services.report_verify(report=selectors.report_get(pk=pk, user=request.user))
        return Response(self.OutputSerializer(result.as_dict()).data)


class AuditVerifyApi(APIView):
    """Recompute the audit trail's hash chain; `ok` false names the first broken event."""

    permission_classes = [HasRole(*READERS)]

    class OutputSerializer(serializers.Serializer):
        ok = serializers.BooleanField()
        events = serializers.IntegerField()
        head = serializers.CharField()
        first_broken_id = serializers.IntegerField(allow_null=True)
        problem = serializers.CharField(allow_blank=True)

        class Meta:
            ref_name = "AuditVerifyOutput"

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        from . import chain

        return Response(self.OutputSerializer(chain.verify().as_dict()).data)


class AuditEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor = serializers.CharField(source="actor_username")
    source = serializers.CharField()
    request_path = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    object = serializers.CharField(source="object_repr")
    deployment_id = serializers.IntegerField(allow_null=True)
    changed_fields = serializers.ListField(child=serializers.CharField())
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


AUDIT_FILTERS = [
    OpenApiParameter("actor", str, description="Username (\"system\" for tasks and commands)."),
    OpenApiParameter("object_type", str, description="e.g. drift_app.Deployment, goldenset.GoldenItem, auth.User.groups."),
    OpenApiParameter("action", str, description="create, update, delete, role_add, role_remove."),
    OpenApiParameter("deployment", str, description="Deployment slug."),
    OpenApiParameter("object_id", str),
    OpenApiParameter("start", str, description="Events at or after (date or ISO time with zone)."),
    OpenApiParameter("end", str, description="Events before (date or ISO time with zone)."),
]


def audit_filtered(params, *, user) -> tuple:
    """(queryset, cleaned filters) from query parameters; ValidationError names the bad parameter."""
    filters = forms.audit_filters(params, deployment_lookup=lambda slug: drift_selectors.deployment_find(slug=slug, user=user))
    return selectors.audit_event_list(**filters, viewer=user), filters


class AuditEventListApi(APIView):
    """The audit trail, newest first, filtered; ?format=csv (or /audit-events/export) for the CSV."""

    permission_classes = [HasRole(*READERS)]

    @extend_schema(parameters=AUDIT_FILTERS, responses=paginated(AuditEventOutputSerializer))
    def get(self, request):
        try:
            events, _ = audit_filtered(request.query_params, user=request.user)
        except ValidationError as exc:
            return _problem(exc)
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOutputSerializer(page, many=True).data)


class AuditExportApi(APIView):
    permission_classes = [HasRole(*READERS)]

    @extend_schema(parameters=AUDIT_FILTERS, responses={200: OpenApiResponse(description="text/csv")})
    def get(self, request):
        try:
            events, _ = audit_filtered(request.query_params, user=request.user)
        except ValidationError as exc:
            return _problem(exc)
        return audit_csv_response(events)


def audit_csv_response(events) -> HttpResponse:
    from django.utils import timezone

    response = HttpResponse(services.audit_export_csv(events=events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="driftdesk-audit-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response
