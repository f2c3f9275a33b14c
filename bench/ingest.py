"""Ingestion and embedding-pipeline throughput.

Prints one JSON line: {"bench": "ingest", "samples_per_s": …, "pipeline_vs_bare": …, …}
- samples_per_s: samples/s through the bulk API (HTTP to gunicorn, batches of 1,000, two client
  threads) into PostgreSQL, in a scratch database on the same server.
- otlp_spans_per_s: LLM spans/s through the OTLP/HTTP receiver (POST /v1/traces, protobuf ExportTraceServiceRequest
  of 1,000 GenAI-convention spans each, two client threads) into PostgreSQL: the same texts, batch size,
  threads and server as samples_per_s, in the same run, right after it.
- pipeline_vs_bare: embedding throughput of the full pipeline (API ingest → Celery task on a real
  worker → pgvector) divided by a bare SentenceTransformer.encode of the same texts in this run.
  Measured in interleaved rounds (bare, then pipeline, on the same texts); the median ratio is
  reported with each round's ratio, so that background load on a 2-core machine shows up as spread.
- onnx_vs_torch: encoder throughput of the ONNX Runtime backend divided by PyTorch (sentence-transformers) on
  the same texts, interleaved rounds, median; onnx_mean_cosine: the mean cosine between their vectors
  (targets: ≥ 1.5× and ≥ 0.999).
Run: .venv/bin/python bench/ingest.py [--samples 20000] [--embed-samples 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from _harness import (
    ROOT,
    emit,
    free_port,
    log,
    scratch_database,
    setup_django,
    start_redis,
)


def records_for(n: int, *, prefix: str, seed: int) -> list[dict]:
    from demo import generator as demo

    timeline = demo.default_timeline(dt.datetime.now(dt.timezone.utc))
    per_week = -(-n // demo.WEEKS)
    samples = demo.generate_samples(timeline=timeline, per_week=per_week, seed=seed)[:n]
    return [
        {"external_id": f"{prefix}-{i}", "prompt": s.prompt, "response": s.response,
         "model_version": s.model_version, "timestamp": s.client_timestamp.isoformat(), "metadata": s.metadata}
        for i, s in enumerate(samples)
    ]


def otlp_bodies(recs: list[dict], *, per_request: int = 1000) -> list[bytes]:
    """The records as OTLP protobuf export requests: one GenAI-convention chat span per record."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def kv(key, value):
        return KeyValue(key=key, value=AnyValue(string_value=value))

    bodies = []
    for start in range(0, len(recs), per_request):
        spans = []
        for i, r in enumerate(recs[start:start + per_request], start=start):
            end = int(dt.datetime.fromisoformat(r["timestamp"]).timestamp() * 1e9)
            spans.append(Span(
                trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name="chat",
                kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=end - 500_000_000, end_time_unix_nano=end,
                attributes=[kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", r["model_version"]),
                            kv("gen_ai.response.model", r["model_version"]),
                            kv("gen_ai.input.messages", json.dumps(
                                [{"role": "user", "parts": [{"type": "text", "content": r["prompt"]}]}])),
                            kv("gen_ai.output.messages", json.dumps(
                                [{"role": "assistant", "parts": [{"type": "text", "content": r["response"]}]}]))]))
        request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
        bodies.append(request.SerializeToString())
    return bodies


def post_batches(port: int, token: str, slug: str, batches: list[bytes], threads: int = 2, *,
                 path: str | None = None, content_type: str = "application/json", auth: str = "Token") -> None:
    queue = list(batches)
    lock = threading.Lock()
    errors: list[str] = []

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            conn.request("POST", path or f"/api/v1/deployments/{slug}/samples", body=body,
                         headers={"Content-Type": content_type, "Authorization": f"{auth} {token}"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status not in (200, 201):
                errors.append(f"{resp.status}: {data[:300]!r}")
        conn.close()

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise SystemExit(f"ingestion failed: {errors[0]}")


def encoder_figures(orecs: list[dict], rounds: int) -> dict:
    """PyTorch (sentence-transformers) vs ONNX Runtime on the same texts, interleaved rounds, the same way:
    each side is one `encode` call of the whole list, batch 128, normalised vectors, timed around the call."""
    from drift_app import embeddings
    from drift_app.integrations import encoders

    if not encoders.onnx_path().exists():
        encoders.export_onnx()
    onnx_model, torch_model = encoders.OnnxSentenceModel(), embeddings.get_model()
    otexts = [r["prompt"] for r in orecs] + [r["response"] for r in orecs]
    onnx_model.encode(otexts[:64])  # warm-up
    torch_model.encode(otexts[:64], batch_size=128, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False)
    torch_rates, onnx_rates = [], []
    for rnd in range(rounds):
        t0 = time.perf_counter()
        tv = torch_model.encode(otexts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
        torch_rates.append(len(otexts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        ov = onnx_model.encode(otexts, batch_size=128)
        onnx_rates.append(len(otexts) / (time.perf_counter() - t0))
        log(f"encoders round {rnd}: torch {torch_rates[-1]:.0f} texts/s, onnx {onnx_rates[-1]:.0f} texts/s")
    onnx_ratios = sorted(o / t for o, t in zip(onnx_rates, torch_rates))
    cosines = np.sum(tv * ov, axis=1)
    return {
        "onnx_vs_torch": round(float(np.median(onnx_ratios)), 3),
        "onnx_vs_torch_rounds": [round(r, 3) for r in onnx_ratios],
        "onnx_mean_cosine": round(float(cosines.mean()), 6),
        "onnx_min_cosine": round(float(cosines.min()), 6),
        "torch_texts_per_s": round(float(np.median(torch_rates)), 1),
        "onnx_texts_per_s": round(float(np.median(onnx_rates)), 1),
        "encoder_texts_per_round": len(otexts),
        "onnx_model": encoders.onnx_runtime_path().name,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--embed-samples", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ingest-only", action="store_true",
                        help="only the JSON API and OTLP throughput (steps 1 and 1b), for profiling")
    parser.add_argument("--encoders-only", action="store_true",
                        help="only the PyTorch vs ONNX Runtime encoder comparison (step 4)")
    args = parser.parse_args()

    redis_proc, broker = start_redis()
    db_name = "driftdesk_bench_ingest"
    log("creating scratch database…")
    db_url = scratch_database(db_name)
    setup_django(db_url, broker)
    from django.contrib.auth.models import User

    from drift_app import embeddings
    from drift_app.models import ProductionSample
    from drift_app.services import deployment_create, ingestion_key_create, team_membership_add

    user = User.objects.create_user("bench-ingest")
    team_membership_add(user=user, role="ml_engineer")
    ingest_dep = deployment_create(name="Bench ingest", slug="bench-ingest", current_model_version="v1")
    embed_dep = deployment_create(name="Bench embed", slug="bench-embed", current_model_version="v1")
    otlp_dep = deployment_create(name="Bench OTLP", slug="bench-otlp", current_model_version="v1")
    # Clients ingest with a per-deployment ingestion key (it can do nothing else), as in production.
    _, token = ingestion_key_create(deployment=ingest_dep, user=user, name="bench", scopes=["ingest:samples"])
    _, embed_token = ingestion_key_create(deployment=embed_dep, user=user, name="bench", scopes=["ingest:samples"])
    _, otlp_token = ingestion_key_create(deployment=otlp_dep, user=user, name="bench", scopes=["ingest:samples"])

    env = {**os.environ, "DATABASE_URL": db_url, "CELERY_BROKER_URL": broker, "DEBUG": "true"}
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "drift_app.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    procs = [web]
    try:
        for _ in range(300):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/login/")
                break
            except OSError:
                time.sleep(0.1)

        figures: dict = {}
        if not args.encoders_only:
            # --- 1. bulk ingestion, no worker consuming (embedding would compete for the 2 cores) ----
            recs = records_for(args.samples, prefix="ing", seed=11)
            batches = [json.dumps(recs[i : i + 1000]).encode() for i in range(0, len(recs), 1000)]
            post_batches(port, token, ingest_dep.slug, batches[:2])  # warm-up: connections, code paths
            ProductionSample.objects.filter(deployment=ingest_dep).delete()
            t0 = time.perf_counter()
            post_batches(port, token, ingest_dep.slug, batches)
            ingest_s = time.perf_counter() - t0
            stored = ProductionSample.objects.filter(deployment=ingest_dep).count()
            assert stored == len(recs), (stored, len(recs))
            samples_per_s = len(recs) / ingest_s
            log(f"ingested {len(recs)} samples in {ingest_s:.2f} s: {samples_per_s:.0f}/s")

            # --- 1b. the same texts as OTLP spans through the trace receiver (same batch size and threads) ----
            otlp = otlp_bodies(recs)
            otlp_post = dict(path="/v1/traces", content_type="application/x-protobuf", auth="Bearer")
            post_batches(port, otlp_token, otlp_dep.slug, otlp[:2], **otlp_post)  # warm-up
            ProductionSample.objects.filter(deployment=otlp_dep).delete()
            t0 = time.perf_counter()
            post_batches(port, otlp_token, otlp_dep.slug, otlp, **otlp_post)
            otlp_s = time.perf_counter() - t0
            stored = ProductionSample.objects.filter(deployment=otlp_dep).count()
            assert stored == len(recs), (stored, len(recs))
            otlp_spans_per_s = len(recs) / otlp_s
            log(f"OTLP: {len(recs)} spans in {otlp_s:.2f} s: {otlp_spans_per_s:.0f}/s")
            # The queued embedding tasks of step 1 are not part of step 2.
            import redis

            redis.Redis.from_url(broker).flushdb()

            figures.update(samples_per_s=round(samples_per_s, 1), otlp_spans_per_s=round(otlp_spans_per_s, 1),
                           otlp_seconds=round(otlp_s, 3), ingest_samples=len(recs), ingest_seconds=round(ingest_s, 3))
        if not (args.encoders_only or args.ingest_only):
            # --- 2 and 3, interleaved over several rounds so that background load hits both alike:
            # bare encoder on the texts, then the full pipeline (API → Celery task on a real worker →
            # pgvector) on the same texts under new external ids.
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "drift_app.celery", "worker", "-Q", "embeddings,default",
                 "-c", "1", "--loglevel", "WARNING", "-n", "bench@%h", "--without-heartbeat", "--without-gossip",
                 "--without-mingle"],
                cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            procs.append(worker)
            warm = records_for(200, prefix="warm", seed=5)
            post_batches(port, embed_token, embed_dep.slug, [json.dumps(warm).encode()])
            pending = ProductionSample.objects.filter(deployment=embed_dep, prompt_embedding__isnull=True)
            while pending.exists():  # the worker has loaded its model and run one real batch
                time.sleep(0.2)
            embeddings.encode([r["prompt"] for r in warm] + [r["response"] for r in warm])  # load the model here too
            bare_rates, pipe_rates = [], []
            for rnd in range(args.rounds):
                # Fresh texts every round, and an empty in-process cache before the bare timing: both sides must
                # encode what they are timed on (with a fixed seed, rounds 2+ were served from encode's cache).
                erecs = records_for(args.embed_samples, prefix=f"emb{rnd}", seed=23 + rnd)
                # The demo's texts are templated and repeat across rounds: the worker's encode cache (a long-lived
                # process) would serve rounds 2+ while the bare side starts empty. A per-round, per-record
                # reference makes every text new to both sides, so both encode all of them.
                for i, rec in enumerate(erecs):
                    rec["prompt"] += f" (ref {rnd}-{i})"
                    rec["response"] += f" (ref {rnd}-{i})"
                texts = [r["prompt"] for r in erecs] + [r["response"] for r in erecs]
                embeddings._cache.clear()
                t0 = time.perf_counter()
                embeddings.encode(texts)
                bare_rates.append(len(texts) / (time.perf_counter() - t0))
                ebatches = [json.dumps(erecs[i : i + 1000]).encode() for i in range(0, len(erecs), 1000)]
                t0 = time.perf_counter()
                post_batches(port, embed_token, embed_dep.slug, ebatches, threads=1)
                while pending.exists():
                    time.sleep(0.05)
                pipe_rates.append(len(texts) / (time.perf_counter() - t0))
                log(f"round {rnd}: bare {bare_rates[-1]:.0f} texts/s, pipeline {pipe_rates[-1]:.0f} texts/s")
            ratios = sorted(p / b for p, b in zip(pipe_rates, bare_rates))

            figures.update(pipeline_vs_bare=round(float(np.median(ratios)), 3),
                           pipeline_vs_bare_rounds=[round(r, 3) for r in ratios],
                           bare_texts_per_s=round(float(np.median(bare_rates)), 1),
                           pipeline_texts_per_s=round(float(np.median(pipe_rates)), 1),
                           embed_texts_per_round=len(texts))
        # --- 4. encoders: PyTorch vs ONNX Runtime on the same texts (interleaved rounds) ----------------
        if not args.ingest_only:
            figures.update(encoder_figures(records_for(args.embed_samples, prefix="onnx", seed=29), args.rounds))

        emit({
            "bench": "ingest",
            **figures,
            "load_average_1min": round(os.getloadavg()[0], 2),
            "device": embeddings.device(),
            "targets": {"samples_per_s": 5000, "otlp_spans_per_s": 5000, "pipeline_vs_bare": 0.9,
                        "onnx_vs_torch": 1.5, "onnx_mean_cosine": 0.999},
        })
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(20)
            except Exception:
                pass
        redis_proc.terminate()
        from django.db import connections

        connections.close_all()
        import psycopg

        base = db_url.replace(f"/{db_name}", "/postgres")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
