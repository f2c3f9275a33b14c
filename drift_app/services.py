from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import embeddings, pgbinary, selectors
from .models import Deployment, ProductionSample
from .validation import SampleIn

logger = logging.getLogger(__name__)

SAMPLE_TABLE = ProductionSample._meta.db_table


@dataclass(frozen=True)
class IngestedSample:
    external_id: str
    id: int
    created: bool


@dataclass(frozen=True)
class IngestResult:
    samples: list[IngestedSample]

    @property
    def created_ids(self) -> list[int]:
        return [s.id for s in self.samples if s.created]


_INSERT_SQL = f"""
WITH input AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[])
        AS t(external_id, prompt, response, model_version, client_timestamp, metadata)
), inserted AS (
    INSERT INTO {SAMPLE_TABLE}
        (deployment_id, external_id, prompt, response, model_version, client_timestamp,
         received_at, metadata, embedding_model)
    SELECT %s, external_id, prompt, response, model_version, client_timestamp, now(), metadata::jsonb, ''
    FROM input
    ON CONFLICT (deployment_id, external_id) DO NOTHING
    RETURNING id, external_id
)
SELECT id, external_id, true FROM inserted
UNION ALL
SELECT s.id, s.external_id, false
FROM {SAMPLE_TABLE} s JOIN input i ON s.external_id = i.external_id
WHERE s.deployment_id = %s
"""


@transaction.atomic
def samples_ingest(*, deployment: Deployment, records: list[SampleIn]) -> IngestResult:
    """Store samples in one multi-row insert; idempotent on (deployment, external_id).

    A retried request inserts nothing and answers with the stored ids.
    """
    params = [
        [r.external_id for r in records],
        [r.prompt for r in records],
        [r.response for r in records],
        [r.model_version for r in records],
        [r.client_timestamp for r in records],
        [json.dumps(r.metadata) for r in records],
        deployment.id,
        deployment.id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        rows = cursor.fetchall()
        found = {ext: (pk, created) for pk, ext, created in rows}
        missing = [r.external_id for r in records if r.external_id not in found]
        if missing:
            # A concurrent request inserted these after our statement's snapshot: read them now.
            cursor.execute(
                f"SELECT id, external_id FROM {SAMPLE_TABLE} WHERE deployment_id = %s AND external_id = ANY(%s)",
                [deployment.id, missing],
            )
            for pk, ext in cursor.fetchall():
                found[ext] = (pk, False)
    result = IngestResult([IngestedSample(r.external_id, *found[r.external_id]) for r in records])
    new_ids = result.created_ids
    if new_ids:
        from .tasks import embed_samples_task

        # robust: if the broker is down the samples are stored all the same; the backfill embeds them.
        transaction.on_commit(lambda: embed_samples_task.delay(new_ids), robust=True)
    return result




def samples_embed(*, sample_ids: list[int], chunk_size: int | None = None) -> int:
    """Embed prompts and responses of the given samples that have no vector from the current model.

    Returns the number of samples embedded. Safe to run twice: already-embedded samples are skipped.
    Encoding and storing are pipelined: while chunk k+1 is encoded, chunk k's vectors are written
    (binary COPY + UPDATE, whose HNSW index maintenance costs about a tenth of the encoding on CPU)
    from a second thread with its own connection. On a GPU worker the two overlap completely.
    """
    from concurrent.futures import ThreadPoolExecutor

    rows = list(
        ProductionSample.objects.filter(id__in=sample_ids)
        .exclude(embedding_model=embeddings.MODEL_NAME, prompt_embedding__isnull=False)
        .order_by("id")
        .values_list("id", "prompt", "response")
    )
    if not rows:
        return 0
    chunk_size = chunk_size or settings.DRIFTDESK_EMBED_CHUNK
    t0 = time.perf_counter()

    def store(ids, prompt_vectors, response_vectors):
        try:
            samples_store_vectors(ids=ids, prompt_vectors=prompt_vectors, response_vectors=response_vectors)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-vectors") as writer:
        pending = []
        for start in range(0, len(rows), chunk_size):
            chunk = rows[start : start + chunk_size]
            ids = np.fromiter((r[0] for r in chunk), dtype=np.int64, count=len(chunk))
            # One encode call for prompts and responses: sentence-transformers sorts by length across
            # both, which keeps padding (and so wasted compute) low.
            vectors = embeddings.encode([r[1] for r in chunk] + [r[2] for r in chunk])
            pending.append(writer.submit(store, ids, vectors[: len(chunk)], vectors[len(chunk) :]))
        for future in pending:
            future.result()  # re-raise a failed write: the task retries, nothing is half-done silently
    logger.info("embedded %d samples in %.2f s", len(rows), time.perf_counter() - t0)
    return len(rows)


@transaction.atomic
def samples_store_vectors(*, ids: np.ndarray, prompt_vectors: np.ndarray, response_vectors: np.ndarray) -> None:
    payload = pgbinary.encode_id_vectors(ids, prompt_vectors, response_vectors)
    dim = embeddings.DIMENSIONS
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS _vectors_in (id bigint, p vector({dim}), r vector({dim})) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY _vectors_in (id, p, r) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
        cursor.execute(
            f"""UPDATE {SAMPLE_TABLE} s
                SET prompt_embedding = v.p, response_embedding = v.r, embedding_model = %s, embedded_at = now()
                FROM _vectors_in v WHERE s.id = v.id""",
            [embeddings.MODEL_NAME],
        )


def embeddings_backfill(*, chunk_size: int = 1000) -> int:
    """Queue embedding for every sample still without a vector from the current model.

    Runs periodically (django-celery-beat) so a worker crash or a broker outage loses nothing.
    Only samples older than DRIFTDESK_BACKFILL_GRACE_SECONDS are taken, so fresh samples whose task
    is still queued are not embedded twice.
    """
    from .tasks import embed_samples_task

    cutoff = timezone.now() - timedelta(seconds=settings.DRIFTDESK_BACKFILL_GRACE_SECONDS)
    pending = (
        ProductionSample.objects.filter(received_at__lt=cutoff)
        .filter(prompt_embedding__isnull=True)
        .values_list("id", flat=True)
        .order_by("id")
    )
    stale = (
        ProductionSample.objects.filter(prompt_embedding__isnull=False)
        .exclude(embedding_model=embeddings.MODEL_NAME)
        .values_list("id", flat=True)
    )
    ids = sorted(set(pending) | set(stale))
    for start in range(0, len(ids), chunk_size):
        embed_samples_task.delay(ids[start : start + chunk_size])
    return len(ids)


def deployment_create(*, name: str, slug: str, current_model_version: str, **thresholds) -> Deployment:
    deployment = Deployment(name=name, slug=slug, current_model_version=current_model_version, **thresholds)
    deployment.full_clean()
    deployment.save()
    drift_schedule_sync(deployment=deployment)
    return deployment


# --- Drift: baselines, calibration, windows ------------------------------------------------------

import datetime as dt  # noqa: E402
import time  # noqa: E402

from django.core.exceptions import ValidationError  # noqa: E402

from . import stats  # noqa: E402
from .models import Baseline, BaselineCalibration, DriftRun  # noqa: E402

# Windows larger than this are evaluated on a seeded random subset of this size: the statistics'
# thresholds are calibrated per window size, and 10,000 vectors already resolve a 1% shift.
MAX_WINDOW_VECTORS = 10_000
TARGET_COLUMNS = {"prompts": "prompt", "responses": "response"}


def baseline_create(
    *, deployment: Deployment, period_start: dt.datetime, period_end: dt.datetime,
    max_samples: int = 50_000, user=None, seed: int = 0, enqueue: bool = True,
) -> Baseline:
    """Choose the samples a new baseline covers (embedded ones in the period, at most max_samples).

    Fitting runs on a worker after commit; the baseline becomes active once fitted.
    """
    if period_end <= period_start:
        raise ValidationError({"period_end": "must be after period_start"})
    ids = np.array(
        ProductionSample.objects.filter(
            deployment=deployment, client_timestamp__gte=period_start, client_timestamp__lt=period_end,
            prompt_embedding__isnull=False, embedding_model=embeddings.MODEL_NAME,
        ).order_by("id").values_list("id", flat=True),
        dtype=np.int64,
    )
    if len(ids) > max_samples:
        ids = np.sort(np.random.default_rng(seed).choice(ids, size=max_samples, replace=False))
    if len(ids) < 200:
        raise ValidationError(
            {"period_start": f"only {len(ids)} embedded samples in the period; a baseline needs at least 200"}
        )
    baseline = Baseline(
        deployment=deployment, period_start=period_start, period_end=period_end, max_samples=max_samples,
        sample_ids=ids.tolist(), sample_count=len(ids), created_by=user, seed=seed,
    )
    baseline.full_clean(exclude=["sample_ids"])
    baseline.save()
    if enqueue:
        from .tasks import baseline_fit_task

        transaction.on_commit(lambda: baseline_fit_task.delay(baseline.id))
    return baseline


def baseline_fit(*, baseline: Baseline) -> Baseline:
    """Fit the prompt and response artifacts, freeze the baseline and make it the active one."""
    if baseline.frozen:
        return baseline
    try:
        artifacts = {}
        for target, column in TARGET_COLUMNS.items():
            _, vectors = selectors.sample_vectors(
                deployment=baseline.deployment, target=column, sample_ids=baseline.sample_ids
            )
            artifacts[target] = stats.fit_baseline(vectors, seed=baseline.seed).to_bytes()
    except ValueError as exc:
        baseline.status = Baseline.Status.FAILED
        baseline.error = str(exc)
        baseline.save(update_fields=["status", "error"])
        return baseline
    with transaction.atomic():
        Baseline.objects.filter(deployment=baseline.deployment, is_active=True).update(is_active=False)
        baseline.prompt_artifact = artifacts["prompts"]
        baseline.response_artifact = artifacts["responses"]
        baseline.status = Baseline.Status.FITTED
        baseline.is_active = True
        baseline.fitted_at = timezone.now()
        baseline.save(update_fields=["prompt_artifact", "response_artifact", "status", "is_active", "fitted_at"])
    return baseline


def _fitted(baseline: Baseline, target: str) -> stats.FittedBaseline:
    raw = baseline.prompt_artifact if target == "prompts" else baseline.response_artifact
    return stats.FittedBaseline.from_bytes(bytes(raw))


def baseline_calibration(*, baseline: Baseline, target: str, window_size: int, false_alarm_rate: float) -> stats.Calibration:
    """Thresholds for this window size, computed once and kept (resampled from held-out vectors only)."""
    cached = BaselineCalibration.objects.filter(
        baseline=baseline, target=target, window_size=window_size, false_alarm_rate=false_alarm_rate
    ).first()
    if cached is not None:
        return stats.Calibration.from_bytes(bytes(cached.artifact))
    n_windows = max(200, int(np.ceil(2 / false_alarm_rate)))
    calibration = stats.calibrate(
        _fitted(baseline, target), window_size, false_alarm_rate=false_alarm_rate, n_windows=n_windows,
        seed=baseline.seed,
    )
    BaselineCalibration.objects.get_or_create(
        baseline=baseline, target=target, window_size=window_size, false_alarm_rate=false_alarm_rate,
        defaults={"artifact": calibration.to_bytes()},
    )
    return calibration


@transaction.atomic
def drift_runs_create(
    *, deployment: Deployment, window_start: dt.datetime, window_end: dt.datetime,
    targets: tuple[str, ...] = ("prompts", "responses"), trigger: str = DriftRun.Trigger.API,
    enqueue: bool = True,
) -> list[DriftRun]:
    """Queue drift runs for one window (one per target). Raises ValidationError without a fitted baseline."""
    if window_end <= window_start:
        raise ValidationError({"window_end": "must be after window_start"})
    for target in targets:
        if target not in TARGET_COLUMNS:
            raise ValidationError({"target": f"unknown target {target!r}; use prompts, responses or both"})
    baseline = Baseline.objects.filter(deployment=deployment, is_active=True, status=Baseline.Status.FITTED).first()
    if baseline is None:
        raise ValidationError({"baseline": f"deployment {deployment.slug} has no fitted baseline yet; create one first"})
    runs = [
        DriftRun.objects.create(
            deployment=deployment, baseline=baseline, window_start=window_start, window_end=window_end,
            target=target, trigger=trigger,
        )
        for target in targets
    ]
    if enqueue:
        from .tasks import drift_run_compute_task

        for run in runs:
            transaction.on_commit(lambda run_id=run.id: drift_run_compute_task.delay(run_id))
    return runs


def drift_run_compute(*, run: DriftRun) -> DriftRun:
    """Evaluate one window against the run's baseline and store every statistic with its verdict."""
    started = time.perf_counter()
    run.status = DriftRun.Status.RUNNING
    run.save(update_fields=["status"])
    deployment = run.deployment
    try:
        ids, vectors = selectors.sample_vectors(
            deployment=deployment, target=TARGET_COLUMNS[run.target],
            start=run.window_start, end=run.window_end,
        )
        run.sample_count = len(ids)
        minimum = max(deployment.min_window_samples, stats.MIN_WINDOW_SIZE)
        if len(ids) < minimum:
            run.status = DriftRun.Status.INSUFFICIENT_DATA
            run.error = f"{len(ids)} embedded samples in the window; at least {minimum} are needed for a verdict"
            run.drifted = None
        else:
            if len(ids) > MAX_WINDOW_VECTORS:
                keep = np.sort(np.random.default_rng(run.id).choice(len(ids), MAX_WINDOW_VECTORS, replace=False))
                ids, vectors = ids[keep], vectors[keep]
            text_field = "prompt" if run.target == "prompts" else "response"
            texts_by_id = dict(ProductionSample.objects.filter(id__in=ids.tolist()).values_list("id", text_field))
            texts = [texts_by_id[int(i)] for i in ids]
            calibration = baseline_calibration(
                baseline=run.baseline, target=run.target, window_size=len(ids),
                false_alarm_rate=deployment.drift_false_alarm_rate,
            )
            report = stats.evaluate_window(_fitted(run.baseline, run.target), calibration, vectors, texts, seed=run.id)
            data = report.to_dict()
            for topic in data["topics"]:
                topic["sample_ids"] = [int(ids[i]) for i in topic["representative_indices"]]
            run.evaluated_count = len(ids)
            run.results = data["results"]
            run.combined = {**data["combined"], "thresholds": data["combined_thresholds"],
                            "false_alarm_rate": data["false_alarm_rate"]}
            run.topics = data["topics"]
            run.drifted = report.drifted
            res = report.results
            run.js, run.js_threshold = res["js"].statistic, res["js"].threshold
            run.wasserstein = res["wasserstein"].statistic
            run.mmd_p_value = res["mmd"].p_value
            run.novel_share = res["novel_share"].statistic
            run.status = DriftRun.Status.COMPLETED
            run.error = ""
    except Exception as exc:  # stored on the run so the failure is visible; the task logs the traceback
        run.status = DriftRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        run.duration_seconds = time.perf_counter() - started
        run.finished_at = timezone.now()
        run.save()
        raise
    run.duration_seconds = time.perf_counter() - started
    run.finished_at = timezone.now()
    run.save()
    return run


def last_complete_window(*, deployment: Deployment, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The most recent full window (hour, day, or ISO week starting Monday) before `now`."""
    now = now.astimezone(dt.timezone.utc)
    if deployment.drift_window == Deployment.Window.HOURLY:
        end = now.replace(minute=0, second=0, microsecond=0)
        return end - dt.timedelta(hours=1), end
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if deployment.drift_window == Deployment.Window.DAILY:
        return end - dt.timedelta(days=1), end
    end -= dt.timedelta(days=end.weekday())
    return end - dt.timedelta(weeks=1), end


def drift_window_scheduled(*, deployment: Deployment, now: dt.datetime | None = None) -> list[DriftRun]:
    """Called by the beat schedule: queue runs for the last complete window unless they exist."""
    start, end = last_complete_window(deployment=deployment, now=now or timezone.now())
    if DriftRun.objects.filter(deployment=deployment, window_start=start, window_end=end).exists():
        return []
    try:
        return drift_runs_create(
            deployment=deployment, window_start=start, window_end=end, trigger=DriftRun.Trigger.SCHEDULE
        )
    except ValidationError:
        logger.warning("no fitted baseline for %s: scheduled drift window skipped", deployment.slug)
        return []


def drift_schedule_sync(*, deployment: Deployment) -> None:
    """Create or update the deployment's drift schedule in django-celery-beat (editable in the admin)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    crontab = {
        Deployment.Window.HOURLY: {"minute": "5", "hour": "*", "day_of_week": "*"},
        Deployment.Window.DAILY: {"minute": "10", "hour": "0", "day_of_week": "*"},
        Deployment.Window.WEEKLY: {"minute": "20", "hour": "0", "day_of_week": "1"},
    }[deployment.drift_window]
    schedule, _ = CrontabSchedule.objects.get_or_create(
        day_of_month="*", month_of_year="*", timezone="UTC", **crontab
    )
    PeriodicTask.objects.update_or_create(
        name=f"Drift window: {deployment.slug}",
        defaults={
            "task": "drift_app.tasks.drift_window_task", "crontab": schedule, "interval": None,
            "args": json.dumps([deployment.id]), "queue": "default", "enabled": True,
        },
    )


# --- Retention ------------------------------------------------------------------------------------


@transaction.atomic
def samples_purge(*, deployment: Deployment, before: dt.datetime) -> int:
    """Delete a deployment's samples served before `before`, keeping every piece of evidence.

    Kept whatever their age: samples referenced by a flag, a promotion or a golden item (evidence
    for compliance), and the samples of the active baseline (so it can be audited and refitted).
    Returns the number of samples deleted.
    """
    from feedback.selectors import referenced_sample_ids

    keep = set(referenced_sample_ids(deployment=deployment))
    active = Baseline.objects.filter(deployment=deployment, is_active=True).values_list("sample_ids", flat=True).first()
    keep |= set(active or [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {SAMPLE_TABLE} WHERE deployment_id = %s AND client_timestamp < %s AND NOT (id = ANY(%s))",
            [deployment.id, before, sorted(keep)],
        )
        return cursor.rowcount
