"""The OTLP/HTTP trace receiver: `POST /v1/traces` (and the paths other tools' receivers use).

An unmodified OpenTelemetry exporter is repointed by changing only its endpoint and headers:
`Authorization: Bearer <ingestion key>` or Langfuse-style `Basic base64(<key prefix>:<ingestion key>)`.
The key names the deployment; it needs the scope ingest:samples. Spans go through the same validation and
the same ingestion service (one multi-row insert, idempotent, embedding queued on commit) as the JSON API.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import Throttled
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from .. import services
from ..authentication import ApiKeyAuthentication, IngestionBasicAuthentication, ingestion_key
from ..models import ApiKey
from ..throttling import RedisFallbackThrottleMixin
from . import otlp

INGESTION_AUTHENTICATION = [ApiKeyAuthentication, IngestionBasicAuthentication]


class IngestionKeyRateThrottle(RedisFallbackThrottleMixin, SimpleRateThrottle):
    """Requests per ingestion key on the tracing-tool endpoints (DRIFTDESK_TRACE_INGEST_RATE, read per request);
    over it, 429 with Retry-After (DRF), which OTLP exporters and the Langfuse SDK both honour by retrying."""

    scope = "trace_ingest"
    # Redis down: ingestion keeps working (the samples are what matters), counted per process.
    limit_name = "ingestion rate limit"
    fallback_cache = LocMemCache("driftdesk-ingest-throttle", {"MAX_ENTRIES": 10_000})

    def get_rate(self) -> str:
        return settings.DRIFTDESK_TRACE_INGEST_RATE

    def get_cache_key(self, request, view) -> str | None:
        key = getattr(request, "auth", None)
        if not isinstance(key, ApiKey):
            return None  # refused by the permission anyway
        return self.cache_format % {"scope": self.scope, "ident": f"key-{key.pk}"}


INGESTION_THROTTLES = [IngestionKeyRateThrottle]


class HasIngestionKey(BasePermission):
    """An ingestion key (of any deployment: the key names it) with the given scope."""

    scope = ApiKey.Scope.INGEST_SAMPLES

    @property
    def message(self) -> str:
        return (f"This endpoint needs a deployment's ingestion key with scope {self.scope!r} "
                "(Authorization: Bearer <key>, or Basic <key prefix>:<key>).")

    def has_permission(self, request, view) -> bool:
        return ingestion_key(request, self.scope) is not None


def ingest_limits(deployment) -> dict:
    return {
        "default_model_version": deployment.current_model_version,
        "max_batch": settings.DRIFTDESK_MAX_BATCH,
        "max_prompt_chars": settings.DRIFTDESK_MAX_PROMPT_CHARS,
        "max_response_chars": settings.DRIFTDESK_MAX_RESPONSE_CHARS,
    }


def _binary(body: bytes, content_type: str, status: int, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class OtlpTracesApi(APIView):
    """OTLP/HTTP ExportTraceServiceRequest, protobuf or JSON, optionally gzip. Answers the OTLP way: 200 with
    an ExportTraceServiceResponse (partial_success: rejected spans and why), 400 with a google.rpc.Status."""

    authentication_classes = INGESTION_AUTHENTICATION
    permission_classes = [HasIngestionKey]
    throttle_classes = INGESTION_THROTTLES

    def handle_exception(self, exc):
        if isinstance(exc, Throttled):
            # OTLP/HTTP's throttling answer: 429, Retry-After, and a google.rpc.Status body (8: RESOURCE_EXHAUSTED)
            # in the request's encoding.
            as_json = (self.request.content_type or "").split(";")[0].strip().lower() == otlp.JSON
            wait = max(1, int(exc.wait or 1))
            message = (f"Rate limit of this ingestion key reached ({settings.DRIFTDESK_TRACE_INGEST_RATE}); "
                       f"retry in {wait} seconds.")
            return _binary(*otlp.error_body(message, as_json=as_json, code=8), status=429,
                           headers={"Retry-After": str(wait)})
        return super().handle_exception(exc)

    @extend_schema(
        request={"application/x-protobuf": bytes, "application/json": dict},
        responses={200: OpenApiResponse(description="ExportTraceServiceResponse (partial_success when spans "
                                                    "were rejected); header X-Driftdesk-Ignored-Spans counts "
                                                    "spans that were not LLM calls."),
                   400: OpenApiResponse(description="google.rpc.Status naming the problem."),
                   413: OpenApiResponse(description="Body (inflated) over DRIFTDESK_MAX_BODY_BYTES."),
                   429: OpenApiResponse(description="Over DRIFTDESK_TRACE_INGEST_RATE for this key; Retry-After.")},
    )
    def post(self, request):
        from ..ops import OTLP_SPANS

        key = ingestion_key(request, ApiKey.Scope.INGEST_SAMPLES)
        as_json = (request.content_type or "").split(";")[0].strip().lower() == otlp.JSON
        try:
            body = otlp.decompress(request.body, request.headers.get("Content-Encoding", ""),
                                   max_bytes=settings.DRIFTDESK_MAX_BODY_BYTES)
            export, as_json = otlp.parse_request(body, request.content_type)
        except otlp.OtlpTooLarge as exc:
            return _binary(*otlp.error_body(str(exc), as_json=as_json), status=413)
        except otlp.OtlpBadRequest as exc:
            return _binary(*otlp.error_body(str(exc), as_json=as_json), status=400)
        mapped = otlp.map_request(export, **ingest_limits(key.deployment))
        created = 0
        if mapped.records:
            result = services.samples_ingest(deployment=key.deployment, records=mapped.records)
            created = len(result.created_ids)
        OTLP_SPANS.labels("created").inc(created)
        OTLP_SPANS.labels("existing").inc(len(mapped.records) - created)
        OTLP_SPANS.labels("ignored").inc(mapped.ignored)
        OTLP_SPANS.labels("rejected").inc(len(mapped.rejected))
        message = ""
        if mapped.rejected:
            shown = "; ".join(mapped.rejected[:10])
            more = f" (and {len(mapped.rejected) - 10} more)" if len(mapped.rejected) > 10 else ""
            message = f"{len(mapped.rejected)} LLM span(s) rejected: {shown}{more}"
        body, content_type = otlp.response_body(rejected=len(mapped.rejected), message=message, as_json=as_json)
        return _binary(body, content_type, 200, {"X-Driftdesk-Ignored-Spans": str(mapped.ignored),
                                                 "X-Driftdesk-Created-Samples": str(created)})
