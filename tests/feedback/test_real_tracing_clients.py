"""Real clients pointed at a live Driftdesk: the OpenTelemetry SDK with its OTLP/HTTP exporter, and the Langfuse
SDK (its OpenAI drop-in), each tracing a call to a local OpenAI-compatible server. The samples land once,
with the right prompt, response and model version, a real Celery worker embeds them, a re-export creates
nothing new, and the SDK's scores become a flag for SME triage or a sample score.

The Python OTLP exporter has no JSON mode (protobuf only), so the JSON case posts OTLP/JSON made with
`google.protobuf.json_format` from the same SDK spans (tests/drift/test_otlp_receiver.otlp_json).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import openai
import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from drift_app import embeddings
from drift_app.models import ApiKey, ProductionSample
from drift_app.services import ingestion_key_create
from feedback.models import DeploymentFeedbackSettings, Flag
from tests import factories
from tests.drift.test_embedding_pipeline import _database_url, _wait_embedded
from tests.drift.test_otlp_receiver import otlp_json

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MODEL = "support-ft-2026-05"
SYSTEM = "You are Acme's support assistant. Answer briefly."
QUESTION = "How do I rotate the API key of my project?"
ANSWER = "Open Settings, then API keys, and click Rotate."


class _ChatHandler(BaseHTTPRequestHandler):
    """The smallest OpenAI-compatible server: /v1/chat/completions answers ANSWER as MODEL."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length))
        body = json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_780_000_000, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ANSWER}}],
            "usage": {"prompt_tokens": len(str(request["messages"])) // 4, "completion_tokens": 12,
                      "total_tokens": 40},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, redis_server, tmp_path_factory):
    """One real Celery worker for this module's tests (its model loads once)."""
    import os
    import signal
    import subprocess
    import sys

    import redis

    from tests.drift.test_embedding_pipeline import ROOT

    with django_db_blocker.unblock():
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "drift_app.settings.test", "DATABASE_URL": _database_url(), "DATABASE_OWNER_URL": "",
               "CELERY_BROKER_URL": redis_server}
    redis.Redis.from_url(redis_server).flushdb()
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "drift_app.celery", "worker", "-Q", "embeddings,default", "-c", "1",
         "--loglevel", "INFO", "-n", "tracing@%h", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    proc.log = log
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    redis.Redis.from_url(redis_server).flushdb()


@pytest.fixture
def model_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def deployment():
    return factories.deployment(current_model_version="v-default")


@pytest.fixture
def key(deployment, personas):
    _, secret = ingestion_key_create(deployment=deployment, user=personas.erin, name="tracing",
                                     scopes=[ApiKey.Scope.INGEST_SAMPLES, ApiKey.Scope.INGEST_FEEDBACK])
    return secret


def _ask(client: openai.OpenAI):
    return client.chat.completions.create(
        model="support-ft", messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}])


def _assert_one_sample(deployment) -> ProductionSample:
    sample = ProductionSample.objects.get(deployment=deployment)
    assert (sample.prompt, sample.prompt_system, sample.response, sample.model_version) == (
        QUESTION, SYSTEM, ANSWER, MODEL)
    return sample


def test_the_opentelemetry_sdk_exporter_fills_a_deployment_once(live_server, deployment, key, model_server, worker):
    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {key}"})))
    provider.add_span_processor(SimpleSpanProcessor(captured))
    tracer = provider.get_tracer("support-bot")
    client = openai.OpenAI(base_url=model_server, api_key="local")

    # The application's own GenAI instrumentation (semantic conventions) around a real OpenAI client call.
    with tracer.start_as_current_span("chat support-ft", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "support-ft",
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": SYSTEM}]),
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]),
    }) as span:
        with tracer.start_as_current_span("GET /health"):  # not an LLM call: ignored
            pass
        completion = _ask(client)
        span.set_attribute("gen_ai.response.model", completion.model)
        span.set_attribute("gen_ai.output.messages", json.dumps([{
            "role": "assistant", "parts": [{"type": "text", "content": completion.choices[0].message.content}],
            "finish_reason": "stop"}]))
    assert provider.force_flush(30_000)

    sample = _assert_one_sample(deployment)
    _wait_embedded(deployment, 1, 180, [worker])
    sample.refresh_from_db()
    assert sample.embedding_model == embeddings.MODEL_NAME
    # The prompt vector is the user's question's, not the system preamble's.
    assert float(np.asarray(sample.prompt_embedding, dtype=np.float32) @ embeddings.encode([QUESTION])[0]) > 0.999

    # A re-export (an exporter retrying, or a collector replaying), as protobuf and as OTLP/JSON: nothing new.
    spans = captured.get_finished_spans()
    again = OTLPSpanExporter(endpoint=f"{live_server.url}/otel/v1/traces", headers={"Authorization": f"Bearer {key}"})
    assert again.export(spans).name == "SUCCESS"
    r = requests.post(f"{live_server.url}/v1/traces", data=otlp_json(spans), timeout=30,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert r.status_code == 200 and r.headers["X-Driftdesk-Created-Samples"] == "0"
    assert r.headers["X-Driftdesk-Ignored-Spans"] == "1"
    assert ProductionSample.objects.filter(deployment=deployment).count() == 1
    provider.shutdown()


@pytest.fixture
def openai_restored():
    """`langfuse.openai` patches the openai package for the whole process when imported (wrapt wrappers on the
    resource classes, and stream iteration hooks). Put the plain package back afterwards, so later tests (the
    app's own judge client) never run through Langfuse's instrumentation."""
    import importlib

    stream_iter, async_stream_aiter = openai.Stream.__iter__, openai.AsyncStream.__aiter__
    yield
    import langfuse.openai as instrumented

    for resource in instrumented.OPENAI_METHODS_V1:
        try:
            owner = getattr(importlib.import_module(resource.module), resource.object, None)
        except ImportError:
            continue
        wrapper = owner.__dict__.get(resource.method) if owner is not None else None
        if wrapper is not None and hasattr(wrapper, "__wrapped__"):
            setattr(owner, resource.method, wrapper.__wrapped__)
    openai.Stream.__iter__, openai.AsyncStream.__aiter__ = stream_iter, async_stream_aiter


def test_the_langfuse_sdk_traces_and_scores_into_driftdesk(openai_restored, live_server, deployment, key, model_server, personas,
                                                           worker, monkeypatch):
    from langfuse import Langfuse

    DeploymentFeedbackSettings.objects.create(deployment=deployment, score_flag_thresholds={"helpfulness": 0.5})
    for name, value in {"LANGFUSE_PUBLIC_KEY": key[:12], "LANGFUSE_SECRET_KEY": key,
                        "LANGFUSE_BASE_URL": live_server.url, "LANGFUSE_HOST": live_server.url}.items():
        monkeypatch.setenv(name, value)
    langfuse = Langfuse(public_key=key[:12], secret_key=key, base_url=live_server.url, flush_interval=0.2)
    from langfuse.openai import openai as traced_openai  # the drop-in: instruments every OpenAI client call

    client = traced_openai.OpenAI(base_url=model_server, api_key="local")
    with langfuse.start_as_current_observation(name="support-request", as_type="span") as root:
        _ask(client)
        trace_id = root.trace_id
    langfuse.flush()

    sample = _assert_one_sample(deployment)
    assert sample.external_id.startswith(f"{trace_id}:")
    _wait_embedded(deployment, 1, 180, [worker])

    # Scores from the SDK: a thumbs-down becomes a flag pending triage, a good numeric score a sample score.
    langfuse.create_score(name="user_feedback", value=0, data_type="BOOLEAN", trace_id=trace_id,
                          comment="wrong menu name")
    langfuse.create_score(name="helpfulness", value=0.9, trace_id=trace_id)
    langfuse.flush()
    flag = Flag.objects.get(sample=sample)
    assert flag.status == Flag.Status.OPEN and "wrong menu name" in flag.comment
    sample.refresh_from_db()
    assert sample.scores == {"user_feedback": 0.0, "helpfulness": 0.9}

    # Below the deployment's threshold: also a flag (the one flag per answer and key owner, kept).
    langfuse.create_score(name="helpfulness", value=0.2, trace_id=trace_id)
    langfuse.flush()
    assert Flag.objects.filter(sample=sample).count() == 1
    sample.refresh_from_db()
    assert sample.scores["helpfulness"] == 0.2

    # The SDK exporting the same trace again creates nothing new.
    with langfuse.start_as_current_observation(name="support-request", as_type="span"):
        _ask(client)
    langfuse.flush()
    assert ProductionSample.objects.filter(deployment=deployment).count() == 2  # a second call is a second sample

    # The SDK's own order when a user votes while the request still runs: the score is flushed while no span
    # of its trace has ended, so it reaches Driftdesk first; it is held and applied when the trace lands.
    # (In this test, not a second one: a second Langfuse client in the process exports nothing after the
    # first one's shutdown, the SDK's OpenTelemetry provider being process-wide.)
    with langfuse.start_as_current_observation(name="support-request", as_type="span") as root:
        langfuse.create_score(name="user_feedback", value=0, data_type="BOOLEAN", trace_id=root.trace_id,
                              comment="score first")
        langfuse.flush()
        assert ProductionSample.objects.filter(deployment=deployment).count() == 2
        _ask(client)
    langfuse.flush()
    late = ProductionSample.objects.get(deployment=deployment, external_id__startswith=f"{root.trace_id}:")
    assert "score first" in Flag.objects.get(sample=late).comment
    late.refresh_from_db()
    assert late.scores == {"user_feedback": 0.0}
    langfuse.shutdown()

