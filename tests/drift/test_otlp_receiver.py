"""The OTLP/HTTP trace receiver: spans made by the OpenTelemetry SDK, encoded by its OTLP encoder, posted
as protobuf or OTLP/JSON (optionally gzip) with a deployment's ingestion key."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rest_framework.test import APIClient

from drift_app.models import ApiKey, ProductionSample
from drift_app.services import ingestion_key_create
from tests import factories

pytestmark = pytest.mark.django_db

PATHS = ["/v1/traces", "/otel/v1/traces", "/api/public/otel/v1/traces"]


def _spans(*specs: dict):
    """Finished SDK spans, one per spec ({"name", "attributes"}), from a real TracerProvider."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    for spec in specs:
        with tracer.start_as_current_span(spec.get("name", "chat"), attributes=spec.get("attributes", {})):
            pass
    provider.shutdown()
    return exporter.get_finished_spans()


def _protobuf(*specs: dict) -> bytes:
    return encode_spans(_spans(*specs)).SerializeToString()


def otlp_json(spans) -> bytes:
    """OTLP/JSON as the spec writes it: protobuf's JSON mapping, with hex trace and span ids."""
    data = json_format.MessageToDict(encode_spans(spans))

    def hexify(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    node[k] = base64.b64decode(v).hex()
                else:
                    hexify(v)
        elif isinstance(node, list):
            for item in node:
                hexify(item)

    hexify(data)
    return json.dumps(data).encode()


GENAI_CURRENT = {
    "name": "chat gpt-support",
    "attributes": {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "support-ft",
        "gen_ai.response.model": "support-ft-2026-05",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "You are Acme's support bot."}]),
        "gen_ai.input.messages": json.dumps([
            {"role": "user", "parts": [{"type": "text", "content": "How do I rotate my API key?"}]},
        ]),
        "gen_ai.output.messages": json.dumps([
            {"role": "assistant", "parts": [{"type": "text", "content": "Open Settings, then API keys."}],
             "finish_reason": "stop"},
        ]),
    },
}


@pytest.fixture
def deployment():
    return factories.deployment(current_model_version="v-default")


@pytest.fixture
def key(deployment, personas):
    _, secret = ingestion_key_create(deployment=deployment, user=personas.erin, name="otel",
                                     scopes=[ApiKey.Scope.INGEST_SAMPLES])
    return secret


def _post(body: bytes, secret: str | None, *, path="/v1/traces", content_type="application/x-protobuf", **extra):
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.generic("POST", path, body, content_type=content_type, **extra)


@pytest.mark.parametrize("path", PATHS)
def test_a_genai_span_becomes_one_sample_at_every_receiver_path(deployment, key, path):
    r = _post(_protobuf(GENAI_CURRENT), key, path=path)
    assert r.status_code == 200, r.content
    assert r["Content-Type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 0
    sample = ProductionSample.objects.get(deployment=deployment)
    assert sample.prompt == "How do I rotate my API key?"
    assert sample.prompt_system == "You are Acme's support bot."
    assert sample.response == "Open Settings, then API keys."
    assert sample.model_version == "support-ft-2026-05"
    trace_id, span_id = sample.external_id.split(":")
    assert len(trace_id) == 32 and len(span_id) == 16
    assert sample.metadata["service_name"] == "support-bot"
    assert sample.embed_queued_at is not None  # queued for embedding like any ingested sample


def test_a_re_export_of_the_same_spans_creates_nothing(deployment, key):
    body = _protobuf(GENAI_CURRENT, {**GENAI_CURRENT, "name": "second"})
    assert _post(body, key)["X-Driftdesk-Created-Samples"] == "2"
    again = _post(body, key)
    assert again.status_code == 200 and again["X-Driftdesk-Created-Samples"] == "0"
    assert ProductionSample.objects.filter(deployment=deployment).count() == 2


def test_otlp_json_with_hex_ids_and_gzip_is_read_like_protobuf(deployment, key):
    spans = _spans(GENAI_CURRENT)
    body = gzip.compress(otlp_json(spans))
    r = _post(body, key, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 200, r.content
    assert r["Content-Type"] == "application/json"
    sample = ProductionSample.objects.get(deployment=deployment)
    assert sample.external_id == f"{spans[0].context.trace_id:032x}:{spans[0].context.span_id:016x}"


def test_spans_that_are_not_llm_calls_are_ignored_and_counted(deployment, key):
    body = _protobuf({"name": "GET /orders", "attributes": {"http.request.method": "GET"}},
                     {"name": "embed", "attributes": {"gen_ai.operation.name": "embeddings",
                                                      "gen_ai.request.model": "minilm"}},
                     GENAI_CURRENT)
    r = _post(body, key)
    assert r.status_code == 200
    assert r["X-Driftdesk-Ignored-Spans"] == "2"
    assert ProductionSample.objects.filter(deployment=deployment).count() == 1


def test_an_llm_span_without_a_prompt_is_rejected_the_otlp_way(deployment, key):
    empty = {"name": "chat", "attributes": {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}}
    r = _post(_protobuf(empty, GENAI_CURRENT), key)
    assert r.status_code == 200
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "prompt" in answer.partial_success.error_message
    assert ProductionSample.objects.filter(deployment=deployment).count() == 1


def test_legacy_genai_attributes_are_read(deployment, key):
    legacy = {"name": "openai.chat", "attributes": {
        "gen_ai.system": "openai", "gen_ai.request.model": "support-ft",
        "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "Be brief.",
        "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "Where is my invoice?",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Under Billing.",
    }}
    assert _post(_protobuf(legacy), key).status_code == 200
    sample = ProductionSample.objects.get(deployment=deployment)
    assert (sample.prompt, sample.prompt_system, sample.response, sample.model_version) == (
        "Where is my invoice?", "Be brief.", "Under Billing.", "support-ft")


def test_openinference_messages_are_read_and_the_deployment_version_is_the_default(deployment, key):
    phoenix = {"name": "ChatCompletion", "attributes": {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Be kind.",
        "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": "Reset my password",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "Use the Forgot password link.",
        "input.value": "{\"messages\": \"ignored when messages are present\"}",
    }}
    assert _post(_protobuf(phoenix), key).status_code == 200
    sample = ProductionSample.objects.get(deployment=deployment)
    assert (sample.prompt, sample.prompt_system, sample.response, sample.model_version) == (
        "Reset my password", "Be kind.", "Use the Forgot password link.", "v-default")


def test_langfuse_attributes_take_precedence_over_genai_ones(deployment, key):
    both = {"name": "generation", "attributes": {
        **GENAI_CURRENT["attributes"],
        "langfuse.observation.type": "generation",
        "langfuse.observation.input": json.dumps([{"role": "system", "content": "Langfuse system"},
                                                  {"role": "user", "content": "Langfuse question"}]),
        "langfuse.observation.output": json.dumps({"role": "assistant", "content": "Langfuse answer"}),
    }}
    assert _post(_protobuf(both), key).status_code == 200
    sample = ProductionSample.objects.get(deployment=deployment)
    assert (sample.prompt, sample.prompt_system, sample.response) == (
        "Langfuse question", "Langfuse system", "Langfuse answer")


def test_langfuse_basic_auth_with_the_key_prefix_as_public_key_is_accepted(deployment, key):
    basic = base64.b64encode(f"{key[:12]}:{key}".encode()).decode()
    r = APIClient().generic("POST", "/api/public/otel/v1/traces", _protobuf(GENAI_CURRENT),
                            content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert r.status_code == 200
    wrong_public = base64.b64encode(f"pk-lf-other:{key}".encode()).decode()
    r = APIClient().generic("POST", "/api/public/otel/v1/traces", _protobuf(GENAI_CURRENT),
                            content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Basic {wrong_public}")
    assert r.status_code == 401


def test_it_refuses_no_key_a_personal_token_and_a_feedback_only_key(deployment, personas):
    assert _post(_protobuf(GENAI_CURRENT), None).status_code == 401
    assert _post(_protobuf(GENAI_CURRENT), personas.token("erin")).status_code == 403
    _, feedback_only = ingestion_key_create(deployment=deployment, user=personas.erin, name="fb",
                                            scopes=[ApiKey.Scope.INGEST_FEEDBACK])
    assert _post(_protobuf(GENAI_CURRENT), feedback_only).status_code == 403
    assert not ProductionSample.objects.exists()


def test_bad_bodies_get_a_400_status_naming_the_problem(key):
    r = _post(b"\xff\x00 not protobuf", key)
    assert r.status_code == 400
    from google.rpc.status_pb2 import Status

    assert "protobuf" in Status.FromString(r.content).message
    r = _post(b"{}", key, content_type="text/plain")
    assert r.status_code == 400 and b"Content-Type" in r.content
    r = _post(b"not gzip", key, HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 400 and b"gzip" in r.content
    r = _post(b"[1, 2]", key, content_type="application/json")
    assert r.status_code == 400 and json.loads(r.content)["message"]


def test_a_gzip_bomb_is_refused_with_413(key, settings):
    settings.DRIFTDESK_MAX_BODY_BYTES = 64 * 1024
    r = _post(gzip.compress(b"\x00" * (1024 * 1024)), key, HTTP_CONTENT_ENCODING="gzip")
    assert r.status_code == 413


def test_a_key_ingests_only_into_its_own_deployment(deployment, key):
    other = factories.deployment()
    assert _post(_protobuf(GENAI_CURRENT), key).status_code == 200
    assert not ProductionSample.objects.filter(deployment=other).exists()


def test_a_prompt_with_a_nul_character_is_rejected_naming_the_field(deployment, key):
    bad = {"name": "chat", "attributes": {**GENAI_CURRENT["attributes"], "gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "reset\x00password"}]}])}}
    answer = ExportTraceServiceResponse.FromString(_post(_protobuf(bad, GENAI_CURRENT), key).content)
    assert answer.partial_success.rejected_spans == 1
    assert "prompt must not contain NUL" in answer.partial_success.error_message
    assert ProductionSample.objects.filter(deployment=deployment).count() == 1


def test_a_span_sent_twice_in_one_request_is_stored_once_and_the_copy_rejected(deployment, key):
    request = encode_spans(_spans(GENAI_CURRENT))
    request.resource_spans[0].scope_spans[0].spans.append(request.resource_spans[0].scope_spans[0].spans[0])
    answer = ExportTraceServiceResponse.FromString(_post(request.SerializeToString(), key).content)
    assert answer.partial_success.rejected_spans == 1
    assert "duplicates" in answer.partial_success.error_message
    assert ProductionSample.objects.filter(deployment=deployment).count() == 1


def test_the_span_end_time_is_the_sample_time_to_the_microsecond(deployment, key):
    spans = _spans(GENAI_CURRENT)
    _post(encode_spans(spans).SerializeToString(), key)
    sample = ProductionSample.objects.get(deployment=deployment)
    micros = spans[0].end_time // 1000
    assert int(sample.client_timestamp.timestamp()) * 1_000_000 + sample.client_timestamp.microsecond == micros
