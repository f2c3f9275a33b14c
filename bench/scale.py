"""Scale benchmark: a large samples table, a drift run over a large window, the dashboard, a compliance
report, dropping a month of data; then the compose stack with one and with two embedding workers.

    .venv/bin/python bench/scale.py [--samples 10000000] [--window 1000000] [--compose-samples 2000]
                                    [--no-compose] [--keep]

Prints ONE JSON line on stdout (progress on stderr):
{"bench": "scale", "samples", "drift_window_samples", "drift_seconds", "dashboard_seconds",
 "report_seconds", "drop_month_seconds", "peak_mb", "embed_workers_speedup", "embedded_twice", ...}

Set-up (timed separately as load_*): a scratch database `driftdesk_bench_scale`, migrated; `--samples` samples
with synthetic unit vectors (two clusters of topics, so drift has something to find) over three calendar months
(January, February = the drift window of `--window` samples, March), loaded like a bulk import: the samples
table's keys and indexes dropped, rows built as fixed-width binary COPY tuples in numpy (the next chunk built
while the current one is written) and COPYed straight into their month's partition, then keys and indexes built
once per partition, VACUUM ANALYZE. A baseline fitted on 20,000 samples of January. Timed, each with the
process's peak RSS while it ran (psutil, sampled every 20 ms): drift_run_compute over the window (prompts), the
dashboard page (Django test client, ML engineer), compliance report_generate over the whole period, and
retention of January (samples_drop_months: the month's partition dropped, evidence samples carried over).

Compose part (with Docker, as tests/deploy runs it): the stack with one `embedder`, `--compose-samples`
samples ingested over HTTP, seconds until the backlog is empty; then a fresh stack with two embedders,
the same samples. Speedup = one-worker seconds / two-worker seconds. embedded_twice = vector writes
(counted by a trigger on UPDATE OF prompt_embedding, so writing the same vector again counts too) minus
samples: 0 when every vector landed once. The counter is checked after each stack's run: every sample
written, and one deliberate rewrite of a stored vector must add one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from pathlib import Path


from _harness import ROOT, emit, log, scratch_database, setup_django, start_redis

DB_NAME = "driftdesk_bench_scale"
CHUNK = 50_000


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


NOISE_BANK = 65_536


def _unit(rng, centres, labels, bank):
    """Unit vectors near their label's centre. The noise is the sum of two rows drawn from a fixed bank of
    Gaussian rows (65,536² combinations, so practically no two samples share it): drawing fresh Gaussians
    for millions of 384-d vectors would cost more than writing them to PostgreSQL."""
    import numpy as np

    i = rng.integers(0, len(bank), len(labels))
    j = rng.integers(0, len(bank), len(labels))
    v = centres[labels] + 0.25 * (bank[i] + bank[j])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


MONTHS = [dt.datetime(2026, m, 1, tzinfo=dt.UTC) for m in (1, 2, 3, 4)]  # January, February (the window), March
PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _row_dtype(dim: int, model: bytes):
    """One sample as a fixed-width binary COPY tuple: every text column has the same length in every row,
    so a chunk of rows is one numpy structured array (no per-row Python)."""
    import numpy as np

    def vec(name):
        return [(f"{name}_len", ">i4"), (f"{name}_dim", ">i2"), (f"{name}_unused", ">i2"), (name, ">f4", (dim,))]

    def field(name, fmt):
        return [(f"{name}_len", ">i4"), (name, fmt)]

    return np.dtype(
        [("nfields", ">i2")] + field("id", ">i8") + field("external_id", "S11") + field("prompt", "S21")
        + field("response", "S6") + field("model_version", "S2") + field("client_timestamp", ">i8")
        + field("received_at", ">i8") + field("metadata", "S3") + vec("prompt_embedding") + vec("response_embedding")
        + field("embedding_model", f"S{len(model)}") + field("embedded_at", ">i8") + field("deployment_id", ">i8")
        + [("embed_queued_at_len", ">i4")] + field("scores", "S3")
    )


COPY_COLUMNS = ("id, external_id, prompt, response, model_version, client_timestamp, received_at, metadata, "
                "prompt_embedding, response_embedding, embedding_model, embedded_at, deployment_id, "
                "embed_queued_at, scores")


def _drop_keys(cursor) -> list[str]:
    """Drop the samples table's indexes and constraints (all partitions); return the DDL to rebuild them.
    Bulk loads build indexes once at the end instead of maintaining them row by row."""
    cursor.execute("""SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                      WHERE conrelid = 'drift_app_productionsample'::regclass AND contype IN ('p', 'u', 'f')""")
    constraints = cursor.fetchall()
    cursor.execute("""SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'drift_app_productionsample'
                      AND indexname NOT IN (SELECT conname FROM pg_constraint
                                            WHERE conrelid = 'drift_app_productionsample'::regclass)""")
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE drift_app_productionsample DROP CONSTRAINT "{name}"')
    return ([f'ALTER TABLE drift_app_productionsample ADD CONSTRAINT "{n}" {d}' for n, d in constraints]
            + [d for _, d in indexes])


def populate(n: int, window: int):
    """n samples over three calendar months, February (the drift window) holding `window` of them.

    Loaded the way a bulk import should be: partitions first, keys and indexes dropped, rows written by
    binary COPY straight into their month's partition, then keys and indexes built once per partition.
    """
    import numpy as np
    from django.db import connection

    from drift_app import embeddings, partitions, pgbinary
    from drift_app.models import Deployment

    deployment = Deployment.objects.create(name="Scale bot", slug="scale-bot", current_model_version="v1",
                                           min_window_samples=200)
    rng = np.random.default_rng(7)
    dim = embeddings.DIMENSIONS
    model = embeddings.MODEL_NAME.encode()
    dtype = _row_dtype(dim, model)
    centres = rng.standard_normal((40, dim), dtype=np.float32)
    bank = rng.standard_normal((NOISE_BANK, dim), dtype=np.float32)
    window = min(window, n // 2)
    month1 = (n - window) // 2
    # Rows [bounds[k], bounds[k+1]) are spread evenly over MONTHS[k]..MONTHS[k+1].
    bounds = [0, month1, month1 + window, n]
    partitions.ensure(MONTHS[:3])
    timings = {}
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        rebuild = _drop_keys(cursor)
        for m in range(3):
            cursor.execute(f"ALTER TABLE drift_app_productionsample_p{MONTHS[m]:%Y_%m} SET (autovacuum_enabled = false)")
    timings["drop_keys_seconds"] = round(time.perf_counter() - t0, 1)
    generate_seconds = 0.0

    def generate(m: int, start: int) -> tuple[int, int, bytes]:
        """One chunk of month m's rows as a binary COPY payload (numpy; runs beside the previous COPY)."""
        nonlocal generate_seconds
        g0 = time.perf_counter()
        lo, hi = bounds[m], bounds[m + 1]
        span_us = (MONTHS[m + 1] - MONTHS[m]) / dt.timedelta(microseconds=1)
        first_us = (MONTHS[m] - PG_EPOCH) / dt.timedelta(microseconds=1)
        ids = np.arange(start, min(hi, start + CHUNK), dtype=np.int64)
        # The window draws half its prompts from topics the first month never saw: drift to find.
        labels = np.where((m == 1) & (ids % 2 == 0), 20 + ids % 20, ids % 20)
        rows = np.empty(len(ids), dtype=dtype)
        rows["nfields"] = 15
        for name, size in (("id", 8), ("external_id", 11), ("prompt", 21), ("response", 6), ("model_version", 2),
                           ("client_timestamp", 8), ("received_at", 8), ("metadata", 3),
                           ("embedding_model", len(model)), ("embedded_at", 8), ("deployment_id", 8), ("scores", 3)):
            rows[f"{name}_len"] = size
        rows["id"] = ids + 1
        rows["external_id"] = np.char.add(b"s", np.char.zfill(ids.astype("S10"), 10))
        rows["prompt"] = np.char.add(b"prompt about topic ", np.char.zfill((ids % 20).astype("S2"), 2))
        rows["response"] = b"answer"
        rows["model_version"] = b"v1"
        stamps = (first_us + (ids - lo) * (span_us / max(hi - lo, 1))).astype(np.int64)
        rows["client_timestamp"] = rows["received_at"] = rows["embedded_at"] = stamps
        rows["metadata"] = rows["scores"] = b"\x01{}"  # jsonb binary: version 1, then the text
        for name, vectors in (("prompt_embedding", _unit(rng, centres, labels, bank)),
                              ("response_embedding", _unit(rng, centres, ids % 20, bank))):
            rows[f"{name}_len"] = 4 + 4 * dim
            rows[f"{name}_dim"] = dim
            rows[f"{name}_unused"] = 0
            rows[name] = vectors
        rows["embedding_model"] = model
        rows["deployment_id"] = deployment.id
        rows["embed_queued_at_len"] = -1  # NULL
        generate_seconds += time.perf_counter() - g0
        return m, min(hi, start + CHUNK), pgbinary.HEADER + rows.tobytes() + pgbinary.TRAILER

    from concurrent.futures import ThreadPoolExecutor

    chunks = [(m, start) for m in range(3) for start in range(bounds[m], bounds[m + 1], CHUNK)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate") as pool:
        pending = pool.submit(generate, *chunks[0]) if chunks else None
        for k in range(len(chunks)):
            m, done, payload = pending.result()
            pending = pool.submit(generate, *chunks[k + 1]) if k + 1 < len(chunks) else None
            with connection.cursor() as cursor, cursor.cursor.copy(
                f"COPY drift_app_productionsample_p{MONTHS[m]:%Y_%m} ({COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(payload)
            del payload
            log(f"  {done:,} / {n:,} samples ({done / (time.perf_counter() - t0):,.0f} rows/s)")
    timings["copy_seconds"] = round(time.perf_counter() - t0, 1)
    timings["generate_seconds"] = round(generate_seconds, 1)  # synthetic rows built in numpy, beside the COPY
    timings["copy_rows_per_s"] = round(n / (time.perf_counter() - t0))
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('drift_app_productionsample_id_seq', %s)", [n + 1])
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for ddl in rebuild:
            cursor.execute(ddl)
    timings["index_seconds"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        for m in range(3):
            cursor.execute(f"ALTER TABLE drift_app_productionsample_p{MONTHS[m]:%Y_%m} RESET (autovacuum_enabled)")
        cursor.execute("VACUUM ANALYZE drift_app_productionsample")
    timings["vacuum_analyze_seconds"] = round(time.perf_counter() - t0, 1)
    return deployment, window, timings


def database_part(args) -> dict:
    redis, broker = start_redis()
    try:
        log(f"scratch database {DB_NAME}: creating and migrating")
        url = scratch_database(DB_NAME)
        setup_django(url, broker)
        t0 = time.perf_counter()
        deployment, window, load_timings = populate(args.samples, args.window)
        load_seconds = time.perf_counter() - t0
        log(f"loaded {args.samples:,} samples in {load_seconds:.0f} s: {load_timings}")

        from django.contrib.auth.models import User
        from django.test import Client

        from compliance import services as compliance_services
        from drift_app import services
        from drift_app.models import DriftRun

        baseline = services.baseline_create(deployment=deployment, period_start=MONTHS[0], period_end=MONTHS[1],
                                            max_samples=20_000, enqueue=False)
        services.baseline_fit(baseline=baseline)
        baseline.refresh_from_db()
        assert baseline.status == baseline.Status.FITTED, (baseline.status, baseline.error)
        (run,) = services.drift_runs_create(deployment=deployment, window_start=MONTHS[1],
                                            window_end=MONTHS[2], targets=("prompts",), enqueue=False)
        with PeakRss() as drift:
            run = services.drift_run_compute(run=run)
        log(f"drift run over {run.sample_count:,} samples: {drift.seconds:.1f} s, {run.status}, drifted={run.drifted}")
        assert run.status == DriftRun.Status.COMPLETED, (run.status, run.error)

        engineer = User.objects.create_user("scale-engineer")
        from drift_app.services import team_membership_add

        team_membership_add(user=engineer, role="ml_engineer", team=deployment.team)
        client = Client()
        client.force_login(engineer)
        with PeakRss() as dashboard:
            response = client.get(f"/deployments/{deployment.slug}/dashboard/", SERVER_NAME="127.0.0.1")
        assert response.status_code == 200, response.status_code
        log(f"dashboard: {dashboard.seconds:.1f} s")

        with PeakRss() as report:
            compliance_services.report_generate(deployment=deployment, start=MONTHS[0], end=MONTHS[3])
        log(f"compliance report: {report.seconds:.1f} s")

        with PeakRss() as drop:
            (january,) = [d for d in services.samples_drop_months(before=MONTHS[1]) if d.month == MONTHS[0]]
        dropped = january.dropped
        log(f"dropping the first month ({dropped:,} samples, {january.kept} evidence samples kept): {drop.seconds:.1f} s")
        return {
            "samples": args.samples, "load_seconds": round(load_seconds, 1), **load_timings,
            "drift_window_samples": run.sample_count, "drift_evaluated_samples": run.evaluated_count,
            "drift_seconds": round(drift.seconds, 2), "drift_peak_mb": round(drift.mb),
            "dashboard_seconds": round(dashboard.seconds, 2), "dashboard_peak_mb": round(dashboard.mb),
            "report_seconds": round(report.seconds, 2), "report_peak_mb": round(report.mb),
            "drop_month_samples": dropped, "drop_month_seconds": round(drop.seconds, 2),
            "drop_month_method": "DROP TABLE of the month's partition", "drop_peak_mb": round(drop.mb),
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
                         # Each embedder gets its share of the host's cores (DRIFTDESK_EMBED_THREADS), as the
                         # README's "Deploy" section says to run several on one host.
                         extra_env={"CELERY_VISIBILITY_TIMEOUT": "600",
                                    "DRIFTDESK_EMBED_THREADS": str(max(1, (os.cpu_count() or 1) // workers))})
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
            # Ingestion takes a per-deployment ingestion key (as tests/deploy makes it, through the services).
            token = s.manage("shell", "-c", (
                "from django.contrib.auth.models import User\n"
                "from drift_app import services\n"
                "from drift_app.services.keys import ingestion_key_create\n"
                "from drift_app.services.teams import team_membership_add\n"
                "u = User.objects.create_user('bench', password=None)\n"
                "team_membership_add(user=u, role='ml_engineer')\n"
                "d = services.deployment_create(name='b', slug='b', current_model_version='v1')\n"
                "print('TOKEN', ingestion_key_create(deployment=d, user=u, name='bench', scopes=['ingest:samples'])[1])\n"
            )).split("TOKEN", 1)[1].split()[0]
            # Every write of a sample's vector is recorded by a trigger (as tests/deploy does): claim renewals
            # are updates too, so update counters would count them. UPDATE OF prompt_embedding fires for every
            # statement that sets the vector, even to the same value (the encoder is deterministic, so a second
            # embedding of a sample writes identical values; a "value changed" condition would miss it).
            s.psql(
                "CREATE TABLE IF NOT EXISTS bench_vector_writes (sample_id bigint NOT NULL);"
                "GRANT INSERT ON bench_vector_writes TO PUBLIC;"
                "CREATE OR REPLACE FUNCTION bench_record_vector_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
                "AS $$ BEGIN INSERT INTO bench_vector_writes VALUES (NEW.id); RETURN NEW; END $$;"
                "CREATE TRIGGER bench_vector_write AFTER UPDATE OF prompt_embedding ON drift_app_productionsample "
                "FOR EACH ROW WHEN (NEW.prompt_embedding IS NOT NULL) EXECUTE FUNCTION bench_record_vector_write();"
            )
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
            updates, distinct = (int(x) for x in s.psql(
                "SELECT count(*), count(DISTINCT sample_id) FROM bench_vector_writes").split("|"))
            samples = int(s.psql("SELECT count(*) FROM drift_app_productionsample"))
            # The counter itself is checked: one more write of an existing vector (same value) must count.
            s.psql("UPDATE drift_app_productionsample SET prompt_embedding = prompt_embedding "
                   "WHERE id = (SELECT min(sample_id) FROM bench_vector_writes)")
            counter_sees_rewrite = int(s.psql("SELECT count(*) FROM bench_vector_writes")) == updates + 1
            if samples != n or distinct != n or not counter_sees_rewrite:
                raise RuntimeError(f"vector-write counter inconsistent: {samples} samples, {distinct} distinct "
                                   f"written of {n}, counter sees a rewrite: {counter_sees_rewrite}")
            results[workers] = (seconds, updates - n)
            log(f"{workers} embedding worker(s): {n} samples in {seconds:.1f} s ({n / seconds:.1f}/s), "
                f"{updates} vector writes for {distinct} samples ({updates - n} extra)")
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
    parser.add_argument("--no-database", action="store_true", help="only the compose part (embedding workers)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    record = {"bench": "scale", **({} if args.no_database else database_part(args))}
    log(f"database part: {json.dumps(record)}")  # kept even if the compose part fails
    if args.no_compose:
        record.update({"embed_workers_speedup": None, "embedded_twice": None, "compose_skipped": "--no-compose"})
    else:
        record.update(compose_part(args.compose_samples))
    emit(record)


if __name__ == "__main__":
    main()
