"""JSON endpoints in the shapes tracing tools post: Langfuse's batch ingestion and scores, Phoenix annotations.

All take a deployment's ingestion key (Bearer, or Langfuse-style Basic <key prefix>:<key>); the key names the
deployment. Generations need the scope ingest:samples, scores and annotations ingest:feedback.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from drift_app import services as core_services
from drift_app.authentication import ingestion_key
from drift_app.integrations.api import INGESTION_AUTHENTICATION, INGESTION_THROTTLES, ingest_limits
from drift_app.integrations.langfuse import GENERATION_EVENTS, generation_record, merge_generations
from drift_app.integrations.otlp import validate
from drift_app.models import ApiKey

from . import integrations

# Event types that carry no LLM call of their own (traces, spans, logs): accepted and not stored.
IGNORED_EVENTS = {"trace-create", "span-create", "span-update", "event-create", "sdk-log", "observation-create",
                  "observation-update"}
SCORE_EVENTS = {"score-create"}


def _key(request) -> ApiKey | None:
    return ingestion_key(request, ApiKey.Scope.INGEST_SAMPLES) or ingestion_key(request, ApiKey.Scope.INGEST_FEEDBACK)


class HasAnyIngestionKey(BasePermission):
    message = ("This endpoint needs a deployment's ingestion key (Authorization: Bearer <key>, or Basic "
               "<key prefix>:<key>), with scope ingest:samples for generations and ingest:feedback for scores.")

    def has_permission(self, request, view) -> bool:
        return _key(request) is not None


class _ToolApi(APIView):
    authentication_classes = INGESTION_AUTHENTICATION
    permission_classes = [HasAnyIngestionKey]
    throttle_classes = INGESTION_THROTTLES

    def _body(self, request):
        try:
            return request.data, None
        except ParseError as exc:
            return None, Response({"detail": f"Body is not valid JSON: {exc.detail}"}, status=400)


class LangfuseIngestionApi(_ToolApi):
    """POST {"batch": [event, ...]} (Langfuse's ingestion API): generations become samples, scores feedback.
    Answers 207 with {"successes": [{"id", "status"}], "errors": [{"id", "status", "message"}]}."""

    @extend_schema(request=dict, responses={207: OpenApiResponse(description="Per-event status."),
                                            400: OpenApiResponse(description="The body is not a batch.")})
    def post(self, request):
        key = _key(request)
        payload, error = self._body(request)
        if error:
            return error
        batch = payload.get("batch") if isinstance(payload, dict) else None
        if not isinstance(batch, list):
            return Response({"detail": "batch: is required, a JSON list of events"}, status=400)
        if len(batch) > settings.DRIFTDESK_MAX_BATCH:
            return Response({"detail": f"batch: {len(batch)} events; the limit is {settings.DRIFTDESK_MAX_BATCH}"},
                            status=400)
        successes, errors = [], []
        generations, scores = [], []
        for i, event in enumerate(batch):
            if not isinstance(event, dict) or not isinstance(event.get("body"), dict):
                errors.append({"id": event.get("id") if isinstance(event, dict) else None, "status": 400,
                               "message": f"batch[{i}]: must be an object with id, type and body"})
                continue
            kind = event.get("type")
            if kind in GENERATION_EVENTS and (kind.startswith("generation") or event["body"].get("type") == "GENERATION"):
                generations.append(event)
            elif kind in SCORE_EVENTS:
                scores.append(event)
            elif kind in IGNORED_EVENTS:
                successes.append({"id": event.get("id"), "status": 201})
            else:
                errors.append({"id": event.get("id"), "status": 400,
                               "message": f"batch[{i}].type: unknown event type {str(kind)[:40]!r}"})
        self._generations(key, generations, successes, errors)
        for event in scores:
            try:
                applied = integrations.tool_feedback_apply(key=key, fb=integrations.langfuse_score(event["body"]))
            except integrations.ToolFeedbackError as exc:
                errors.append({"id": event.get("id"), "status": exc.status, "message": exc.message})
            else:
                # 202: held until its trace arrives (feedback.integrations.pending_feedback_hold).
                successes.append({"id": event.get("id"), "status": 202 if applied.pending_id else 201})
        return Response({"successes": successes, "errors": errors}, status=207)

    def _generations(self, key, events, successes, errors) -> None:
        if not events:
            return
        if ApiKey.Scope.INGEST_SAMPLES not in key.scopes:
            errors.extend({"id": e.get("id"), "status": 403,
                           "message": "this ingestion key lacks the scope 'ingest:samples'"} for e in events)
            return
        merged = merge_generations(events)
        last_ts = {e["body"].get("id"): e.get("timestamp") for e in events}
        ids = list(merged)
        records = [generation_record(merged[oid], event_timestamp=last_ts.get(oid)) for oid in ids]
        accepted, refused = validate(records, ids, **ingest_limits(key.deployment))
        if accepted:
            core_services.samples_ingest(deployment=key.deployment, records=accepted)
        problems = dict(refused)
        for event in events:
            oid = event["body"].get("id")
            if not isinstance(oid, str) or not oid:
                errors.append({"id": event.get("id"), "status": 400, "message": "body.id: is required"})
            elif oid in problems:
                errors.append({"id": event.get("id"), "status": 400, "message": problems[oid]})
            else:
                successes.append({"id": event.get("id"), "status": 201})


class LangfuseScoresApi(_ToolApi):
    """POST one score or a list (what the Langfuse SDK's score queue sends). All applied: 202
    {"message": "Accepted"}; some refused: 207 {"accepted", "rejected", "errors": [{"message"}]}."""

    @extend_schema(request=dict, responses={202: OpenApiResponse(description="Every score applied."),
                                            207: OpenApiResponse(description="Counts and the refusals.")})
    def post(self, request):
        key = _key(request)
        payload, error = self._body(request)
        if error:
            return error
        items = payload if isinstance(payload, list) else [payload]
        if len(items) > settings.DRIFTDESK_MAX_BATCH:
            return Response({"detail": f"body: {len(items)} scores; the limit is {settings.DRIFTDESK_MAX_BATCH}"},
                            status=400)
        accepted, problems = 0, []
        for i, item in enumerate(items):
            try:
                integrations.tool_feedback_apply(key=key, fb=integrations.langfuse_score(item))
                accepted += 1
            except integrations.ToolFeedbackError as exc:
                problems.append({"message": f"score {i}: {exc.message}", "status": exc.status})
        if not problems:
            return Response({"message": "Accepted"}, status=202)
        return Response({"accepted": accepted, "rejected": len(problems), "errors": problems}, status=207)


class PhoenixSpanAnnotationsApi(_ToolApi):
    """POST {"data": [{"span_id", "name", "annotator_kind", "result": {"label", "score", "explanation"}}]}
    (Phoenix's span annotations). All or nothing: a refused item is a 4xx naming it, and nothing is stored."""

    @extend_schema(request=dict, responses={200: OpenApiResponse(description='{"data": [{"id": ...}]}'),
                                            400: OpenApiResponse(description="An item is invalid."),
                                            404: OpenApiResponse(description="No sample comes from a span.")})
    def post(self, request):
        from django.db import transaction

        key = _key(request)
        payload, error = self._body(request)
        if error:
            return error
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not data:
            return Response({"detail": "data: is required, a non-empty list of span annotations"}, status=400)
        if len(data) > settings.DRIFTDESK_MAX_BATCH:
            return Response({"detail": f"data: {len(data)} annotations; the limit is {settings.DRIFTDESK_MAX_BATCH}"},
                            status=400)
        out = []
        try:
            with transaction.atomic():
                for i, item in enumerate(data):
                    try:
                        applied = integrations.tool_feedback_apply(key=key, fb=integrations.phoenix_annotation(item))
                    except integrations.ToolFeedbackError as exc:
                        exc.message = f"data[{i}].{exc.message}"
                        raise
                    out.append({"id": f"flag-{applied.flag_id}" if applied.flag_id else
                                f"pending-{applied.pending_id}" if applied.pending_id else f"sample-{applied.sample_id}"})
        except integrations.ToolFeedbackError as exc:
            return Response({"detail": exc.message}, status=exc.status)
        return Response({"data": out}, status=200)
