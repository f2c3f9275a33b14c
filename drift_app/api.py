from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .roles import COMPLIANCE, ML_ENGINEER, SME, HasRole
from .validation import PayloadInvalid, parse_samples


class DeploymentOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()
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


class DeploymentListApi(ListAPIView):
    """Deployments monitored by Driftdesk."""

    permission_classes = [HasRole(ML_ENGINEER, SME, COMPLIANCE)]
    serializer_class = DeploymentOutputSerializer

    def get_queryset(self):
        return selectors.deployment_list()


class DeploymentDetailApi(APIView):
    permission_classes = [HasRole(ML_ENGINEER, SME, COMPLIANCE)]

    @extend_schema(responses=DeploymentOutputSerializer)
    def get(self, request, slug: str):
        return Response(DeploymentOutputSerializer(selectors.deployment_get(slug=slug)).data)


class SampleInputSerializer(serializers.Serializer):
    """Documentation of one record; validation is drift_app.validation.parse_samples."""

    external_id = serializers.CharField(max_length=200, help_text="Client id, unique per deployment.")
    prompt = serializers.CharField(help_text="Non-empty, no NUL characters, at most DRIFTDESK_MAX_PROMPT_CHARS.")
    response = serializers.CharField(allow_blank=True, help_text="At most DRIFTDESK_MAX_RESPONSE_CHARS.")
    model_version = serializers.CharField(required=False, help_text="Defaults to the deployment's current version.")
    timestamp = serializers.DateTimeField(help_text="ISO 8601 with time zone: when the answer was served.")
    metadata = serializers.DictField(required=False)


class SampleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    prompt = serializers.CharField()
    response = serializers.CharField()
    model_version = serializers.CharField()
    client_timestamp = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    metadata = serializers.DictField()
    embedding_model = serializers.CharField()
    embedded_at = serializers.DateTimeField()


class SampleIngestApi(APIView):
    """POST one sample or a list of up to DRIFTDESK_MAX_BATCH; GET lists stored samples."""

    def get_permissions(self):
        # Ingestion is done with an ML engineer's (service account's) token; SMEs and compliance read.
        if self.request.method == "POST":
            return [HasRole(ML_ENGINEER)()]
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
        deployment = selectors.deployment_get(slug=slug)
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

    @extend_schema(responses=SampleOutputSerializer(many=True))
    def get(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug)
        from rest_framework.pagination import LimitOffsetPagination

        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.sample_list(deployment=deployment), request, view=self)
        return paginator.get_paginated_response(SampleOutputSerializer(page, many=True).data)
