"""End to end from OpenTelemetry to a verdict: an unmodified OTLP/HTTP exporter (opentelemetry-exporter-otlp-proto-http)
sends GenAI chat spans to a live Driftdesk; the samples are embedded by the embedding service with the real encoder;
a baseline is fitted on the first week, drift runs score the second, and the window's verdict uses them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from demo import generator as demo
from drift_app import services
from drift_app.models import ApiKey, DriftRun, ProductionSample
from drift_app.services import ingestion_key_create
from tests import factories
from verdicts import services as verdict_services

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.timezone.utc)  # a Monday
BASELINE, WINDOW = 620, 110  # the calibration needs ≥ ~600 baseline rows; the window its minimum (100)


def _nanos(when: dt.datetime) -> int:
    return int(when.timestamp() * 1e9)


def _export(url: str, key: str, samples, *, start: dt.datetime, spacing: dt.timedelta) -> None:
    """Each sample as the span of an instrumented chat call, stamped `spacing` apart, through the exporter."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {key}"}, timeout=60)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=500, max_queue_size=5_000))
    tracer = provider.get_tracer("support-bot")
    for i, s in enumerate(samples):
        when = _nanos(start + i * spacing)
        span = tracer.start_span("chat support-ft", start_time=when - 400_000_000, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "support-ft",
            "gen_ai.response.model": s.model_version,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": s.prompt}]}]),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": s.response}]}]),
        })
        span.end(end_time=when)
    assert provider.force_flush(120_000)
    provider.shutdown()


def test_spans_from_an_otel_exporter_feed_a_baseline_a_drift_run_and_a_verdict(live_server, personas):
    deployment = factories.deployment(min_window_samples=100, drift_window="weekly")
    _, key = ingestion_key_create(deployment=deployment, user=personas.erin, name="otel",
                                  scopes=[ApiKey.Scope.INGEST_SAMPLES])
    # Realistic support traffic of one model version (the demo's first weeks, before any change).
    timeline = demo.default_timeline(T0 + dt.timedelta(weeks=demo.WEEKS))
    traffic = [s for s in demo.generate_samples(timeline=timeline, per_week=BASELINE + WINDOW, seed=17)
               if s.model_version == timeline.model_version(1)][:BASELINE + WINDOW]
    assert len(traffic) == BASELINE + WINDOW
    week2 = T0 + dt.timedelta(weeks=1)
    _export(live_server.url, key, traffic[:BASELINE], start=T0, spacing=dt.timedelta(minutes=14))
    _export(live_server.url, key, traffic[BASELINE:], start=week2, spacing=dt.timedelta(minutes=45))

    samples = ProductionSample.objects.filter(deployment=deployment)
    assert samples.count() == BASELINE + WINDOW
    assert samples.filter(metadata__source="otlp/gen_ai", metadata__service_name="support-bot").count() == samples.count()
    # The worker's service, run here: the real encoder, vectors stored by binary COPY.
    services.samples_embed(sample_ids=list(samples.values_list("id", flat=True)))

    baseline = services.baseline_create(deployment=deployment, period_start=T0, period_end=week2, enqueue=False)
    baseline = services.baseline_fit(baseline=baseline)
    assert baseline.status == "fitted" and baseline.sample_count == BASELINE, baseline.error
    runs = services.drift_runs_create(deployment=deployment, window_start=week2, window_end=week2 + dt.timedelta(weeks=1),
                                      enqueue=False)
    runs = [services.drift_run_compute(run=run) for run in runs]
    assert {r.status for r in runs} == {DriftRun.Status.COMPLETED}
    assert {r.sample_count for r in runs} == {WINDOW}

    verdict = verdict_services.verdict_compute(deployment=deployment, window_start=week2,
                                               window_end=week2 + dt.timedelta(weeks=1))
    # The verdict's drift evidence is these runs: same traffic, same model version, so no drift either way.
    assert verdict.prompt_drift is False and verdict.response_drift is False, verdict.explanation
    drift_evidence = {target: verdict.inputs["drift"][target]["run_id"] for target in ("prompts", "responses")}
    assert set(drift_evidence.values()) == {r.pk for r in runs}
