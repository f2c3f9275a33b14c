"""Scale benchmark: a large samples table, a drift run over a large window, the dashboard, a compliance
report, dropping a month of data; then the compose stack with one and with two embedding workers.

    .venv/bin/python bench/scale.py [--samples 10000000] [--window 1000000] [--compose-samples 2000]
                                    [--no-compose] [--keep]

Prints ONE JSON line on stdout (progress on stderr):
{"bench": "scale", "samples", "drift_window_samples", "drift_seconds", "dashboard_seconds",
 "report_seconds", "drop_month_seconds", "peak_mb", "embed_workers_speedup", "embedded_twice", ...}

Set-up (not timed): a scratch database `driftdesk_bench_scale`, migrated; `--samples` samples with
synthetic unit vectors (two clusters of topics, so drift has something to find) written by binary
COPY in chunks of 100,000 and spread evenly over three months (the middle month holds the drift window
of `--window` samples; the first month the baseline period); a baseline fitted on 20,000 samples of the first
month. Timed, each with the process's peak RSS while it ran (psutil, sampled every 20 ms):
drift_run_compute over the window (prompts), the dashboard page (Django test client, ML engineer),
compliance report_generate over the whole period, and retention of the first month (samples_purge).

Compose part (with Docker, as tests/deploy runs it): the stack with one `embedder`, `--compose-samples`
samples ingested over HTTP, seconds until the backlog is empty; then a fresh stack with two embedders,
the same samples. Speedup = one-worker seconds / two-worker seconds. embedded_twice = vector writes
(pg_stat_user_tables.n_tup_upd) minus samples: 0 when every vector landed once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, emit, log, scratch_database, setup_django, start_redis  # noqa: E402

DB_NAME = "driftdesk_bench_scale"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MONTH = dt.timedelta(days=30)
CHUNK = 100_000


class PeakRss:
    """Peak resident memory of this process while the block runs."""

    def __enter__(self):
        import psutil

        self._proc = psutil.Process()
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self.started = time.perf_counter()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.02)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        self.mb = self.peak / 2**20


def _unit(rng, centres, labels):
    import numpy as np

    v = centres[labels] + 0.35 * rng.standard_normal((len(labels), centres.shape[1])).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def populate(n: int, window: int):
    """n samples over three months; the drift window (middle month) gets `window` of them."""
    import numpy as np
    from django.db import connection

    from drift_app import embeddings, pgbinary
    from drift_app.models import Deployment

    deployment = Deployment.objects.create(name="Scale bot", slug="scale-bot", current_model_version="v1",
                                           min_window_samples=200)
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((40, embeddings.DIMENSIONS)).astype(np.float32)
    window = min(window, n // 2)
    rest = n - window
    # Samples 0..rest/2 in month 1, the window's samples in month 2, the rest in month 3.
    month1 = rest // 2
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE drift_app_productionsample SET (autovacuum_enabled = false)")
    for start in range(0, n, CHUNK):
        ids = np.arange(start, min(n, start + CHUNK), dtype=np.int64)
        in_window = (ids >= month1) & (ids < month1 + window)
        # The window draws half its prompts from topics the first month never saw: drift to find.
        labels = np.where(in_window & (ids % 2 == 0), 20 + ids % 20, ids % 20)
        p, r = _unit(rng, centres, labels), _unit(rng, centres, ids % 20)
        payload = pgbinary.encode_id_vectors(ids, p, r)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS _scale_in (id bigint, p vector(384), r vector(384))")
            cursor.execute("TRUNCATE _scale_in")
            with cursor.cursor.copy("COPY _scale_in (id, p, r) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
            cursor.execute(
                """INSERT INTO drift_app_productionsample
                   (deployment_id, external_id, prompt, response, client_timestamp, received_at, model_version,
                    metadata, prompt_embedding, response_embedding, embedding_model, embedded_at)
                   SELECT %(d)s, 's' || v.id, 'prompt about topic ' || (v.id %% 20), 'answer', ts, ts, 'v1',
                          '{}'::jsonb, v.p, v.r, %(model)s, ts
                   FROM _scale_in v,
                   LATERAL (SELECT CASE
                       WHEN v.id < %(m1)s THEN %(s1)s + (v.id::float8 / greatest(%(m1)s, 1)) * interval '30 days'
                       WHEN v.id < %(m1)s + %(w)s THEN %(s2)s + ((v.id - %(m1)s)::float8 / %(w)s) * interval '30 days'
                       ELSE %(s3)s + ((v.id - %(m1)s - %(w)s)::float8 / greatest(%(n)s - %(m1)s - %(w)s, 1))
                            * interval '30 days' END AS ts) t""",
                {"d": deployment.id, "model": embeddings.MODEL_NAME, "m1": month1, "w": window, "n": n,
                 "s1": START, "s2": START + MONTH, "s3": START + 2 * MONTH},
            )
        log(f"  {min(n, start + CHUNK):,} / {n:,} samples")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE drift_app_productionsample RESET (autovacuum_enabled)")
        cursor.execute("VACUUM ANALYZE drift_app_productionsample")
    return deployment, window


def database_part(args) -> dict:
    redis, broker = start_redis()
    try:
        log(f"scratch database {DB_NAME}: creating and migrating")
        url = scratch_database(DB_NAME)
        setup_django(url, broker)
        t0 = time.perf_counter()
        deployment, window = populate(args.samples, args.window)
        load_seconds = time.perf_counter() - t0
        log(f"loaded {args.samples:,} samples in {load_seconds:.0f} s")

        from django.contrib.auth.models import Group, User
        from django.test import Client

        from compliance import services as compliance_services
        from drift_app import services
        from drift_app.models import DriftRun

        baseline = services.baseline_create(deployment=deployment, period_start=START, period_end=START + MONTH,
                                            max_samples=20_000, enqueue=False)
        services.baseline_fit(baseline=baseline)
        (run,) = services.drift_runs_create(deployment=deployment, window_start=START + MONTH,
                                            window_end=START + 2 * MONTH, targets=("prompts",), enqueue=False)
        with PeakRss() as drift:
            run = services.drift_run_compute(run=run)
        log(f"drift run over {run.sample_count:,} samples: {drift.seconds:.1f} s, {run.status}, drifted={run.drifted}")
        assert run.status == DriftRun.Status.COMPLETED, (run.status, run.error)

        engineer = User.objects.create_user("scale-engineer")
        engineer.groups.add(Group.objects.get(name="ml_engineer"))
        client = Client()
        client.force_login(engineer)
        with PeakRss() as dashboard:
            response = client.get(f"/deployments/{deployment.slug}/dashboard/", SERVER_NAME="127.0.0.1")
        assert response.status_code == 200, response.status_code
        log(f"dashboard: {dashboard.seconds:.1f} s")

        with PeakRss() as report:
            compliance_services.report_generate(deployment=deployment, start=START, end=START + 3 * MONTH)
        log(f"compliance report: {report.seconds:.1f} s")

        with PeakRss() as drop:
            dropped = services.samples_purge(deployment=deployment, before=START + MONTH)
        log(f"dropping the first month ({dropped:,} samples): {drop.seconds:.1f} s")
        return {
            "samples": args.samples, "load_seconds": round(load_seconds, 1),
            "drift_window_samples": run.sample_count, "drift_evaluated_samples": run.evaluated_count,
            "drift_seconds": round(drift.seconds, 2), "drift_peak_mb": round(drift.mb),
            "dashboard_seconds": round(dashboard.seconds, 2), "dashboard_peak_mb": round(dashboard.mb),
            "report_seconds": round(report.seconds, 2), "report_peak_mb": round(report.mb),
            "drop_month_samples": dropped, "drop_month_seconds": round(drop.seconds, 2),
            "drop_month_method": "DELETE (samples are not partitioned)", "drop_peak_mb": round(drop.mb),
            "peak_mb": round(max(drift.mb, dashboard.mb, report.mb, drop.mb)),
        }
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            import psycopg

            from drift_app import embedded_pg

            base = os.environ.get("DRIFTDESK_BENCH_BASE_URL") or embedded_pg.ensure_running()
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        redis.terminate()


def compose_part(n: int) -> dict:
    """Seconds to embed n samples with one and with two embedding worker containers."""
    import json
    import tempfile
    import urllib.request

    sys.path.insert(0, str(ROOT))
    from tests.deploy import stack as deploy

    reason = deploy.unavailable_reason()
    if reason:
        return {"embed_workers_speedup": None, "embedded_twice": None, "compose_skipped": reason}
    deploy.build()
    results = {}
    for workers in (1, 2):
        s = deploy.Stack(project=f"ddscale{workers}", workdir=Path(tempfile.mkdtemp(prefix="driftdesk-scale-")),
                         extra_env={"CELERY_VISIBILITY_TIMEOUT": "600"})
        try:
            s.write_env_file()
            s.compose("up", "-d", "--no-build", "--scale", f"embedder={workers}", timeout=600)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    if urllib.request.urlopen(s.base_url + "/readyz", timeout=5).status == 200:
                        break
                except OSError:
                    time.sleep(2)
            token = s.manage("shell", "-c", (
                "from django.contrib.auth.models import User, Group\n"
                "from rest_framework.authtoken.models import Token\n"
                "from drift_app.models import Deployment\n"
                "u = User.objects.create_user('bench')\nu.groups.add(Group.objects.get(name='ml_engineer'))\n"
                "Deployment.objects.create(name='b', slug='b', current_model_version='v1')\n"
                "print('TOKEN', Token.objects.create(user=u).key)\n")).split("TOKEN", 1)[1].split()[0]
            # Wait until every embedder has loaded its model (its first task would otherwise pay for it).
            time.sleep(20)
            data = json.loads((Path(__file__).resolve().parents[2] / "shared/data/clinc150/data_full.json").read_text())["train"][:n]
            stamp = dt.datetime.now(dt.UTC).isoformat()
            started = time.monotonic()
            for i in range(0, n, 250):
                body = [{"external_id": f"x{j}", "prompt": t, "response": f"intent {c}", "timestamp": stamp}
                        for j, (t, c) in enumerate(data[i:i + 250], start=i)]
                req = urllib.request.Request(s.base_url + "/api/v1/deployments/b/samples", json.dumps(body).encode(),
                                             {"Content-Type": "application/json", "Authorization": f"Token {token}"})
                urllib.request.urlopen(req, timeout=120).read()
            while int(s.psql("SELECT count(*) FROM drift_app_productionsample WHERE prompt_embedding IS NULL")):
                if time.monotonic() - started > 1800:
                    raise RuntimeError("backlog not embedded in 30 minutes")
                time.sleep(1)
            seconds = time.monotonic() - started
            time.sleep(2)  # statistics are flushed at transaction end; give them a moment
            updates = int(s.psql("SELECT n_tup_upd FROM pg_stat_user_tables "
                                 "WHERE relname = 'drift_app_productionsample'"))
            results[workers] = (seconds, updates - n)
            log(f"{workers} embedding worker(s): {n} samples in {seconds:.1f} s ({n / seconds:.1f}/s), "
                f"{updates - n} extra vector writes")
        finally:
            s.down()
    return {
        "compose_samples": n,
        "embed_one_worker_samples_per_s": round(n / results[1][0], 1),
        "embed_two_workers_samples_per_s": round(n / results[2][0], 1),
        "embed_workers_speedup": round(results[1][0] / results[2][0], 2),
        "embedded_twice": results[1][1] + results[2][1],
        "cpu_cores": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--window", type=int, default=1_000_000)
    parser.add_argument("--compose-samples", type=int, default=2000)
    parser.add_argument("--no-compose", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    record = {"bench": "scale", **database_part(args)}
    if args.no_compose:
        record.update({"embed_workers_speedup": None, "embedded_twice": None, "compose_skipped": "--no-compose"})
    else:
        record.update(compose_part(args.compose_samples))
    emit(record)


if __name__ == "__main__":
    main()
