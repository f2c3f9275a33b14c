"""Drift: baselines, calibration, drift runs over windows, and the per-deployment drift schedule."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import numpy as np
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from .. import embeddings, metric_sinks, selectors, stats
from . import leases
from ..models import (
    Baseline,
    BaselineCalibration,
    Deployment,
    DriftRun,
    ProductionSample,
)

logger = logging.getLogger(__name__)

SAMPLE_TABLE = ProductionSample._meta.db_table

# Windows larger than this (or than half the baseline's pool, the largest calibrated size) are
# evaluated on a seeded random subset: 10,000 vectors already resolve a 1% shift.
MAX_WINDOW_VECTORS = 10_000
TARGET_COLUMNS = {"prompts": "prompt", "responses": "response"}
# Calibrations are made once per baseline for every window size; the cache row's window_size is 0.
GRID_WINDOW_SIZE = 0


def target_false_alarm_rate(deployment: Deployment) -> float:
    """Each target's share of the deployment's false-alarm rate.

    A window raises drift when prompts OR responses do, so each target is calibrated at half the
    deployment's rate (Bonferroni): the window's false-alarm rate is at most the deployment's
    whatever the dependence between the two. Within a target, the statistics are combined by one
    jointly calibrated rule (suite.py), so they need no further correction.
    """
    return deployment.drift_false_alarm_rate / len(TARGET_COLUMNS)


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
        from ..tasks import baseline_fit_task

        transaction.on_commit(lambda: baseline_fit_task.delay(baseline.id))
    return baseline


def baseline_fit(*, baseline: Baseline) -> Baseline:
    """Fit the prompt and response artifacts, freeze the baseline and make it the active one."""
    if baseline.frozen:
        return baseline
    try:
        artifacts = {}
        for target, column in TARGET_COLUMNS.items():
            ids, vectors = selectors.sample_vectors(
                deployment=baseline.deployment, target=column, sample_ids=baseline.sample_ids
            )
            fitted = stats.fit_baseline(vectors, seed=baseline.seed)
            artifacts[target] = fitted.to_bytes()
            if target == "responses":
                # Style is measured on the same pool rows the response statistics use as reference.
                pool_ids = ids[fitted.holdout_indices]
                texts = dict(ProductionSample.objects.filter(id__in=pool_ids.tolist()).values_list("id", "response"))
                artifacts["style"] = stats.style.fit_style(
                    stats.style.style_features([texts[int(i)] for i in pool_ids]),
                    false_alarm_rate=target_false_alarm_rate(baseline.deployment), seed=baseline.seed,
                ).to_bytes()
    except ValueError as exc:
        baseline.status = Baseline.Status.FAILED
        baseline.error = str(exc)
        baseline.save(update_fields=["status", "error"])
        return baseline
    with transaction.atomic():
        Baseline.objects.filter(deployment=baseline.deployment, is_active=True).update(is_active=False)
        baseline.prompt_artifact = artifacts["prompts"]
        baseline.response_artifact = artifacts["responses"]
        baseline.response_style_artifact = artifacts["style"]
        baseline.status = Baseline.Status.FITTED
        baseline.is_active = True
        baseline.fitted_at = timezone.now()
        baseline.save(update_fields=[
            "prompt_artifact", "response_artifact", "response_style_artifact", "status", "is_active", "fitted_at",
        ])
    return baseline


def _fitted(baseline: Baseline, target: str) -> stats.FittedBaseline:
    raw = baseline.prompt_artifact if target == "prompts" else baseline.response_artifact
    return stats.FittedBaseline.from_bytes(bytes(raw))


def baseline_calibration(*, baseline: Baseline, target: str, false_alarm_rate: float) -> stats.Calibration:
    """Thresholds for every window size, computed once per (baseline, target, rate) and kept."""
    cached = BaselineCalibration.objects.filter(
        baseline=baseline, target=target, window_size=GRID_WINDOW_SIZE, false_alarm_rate=false_alarm_rate
    ).first()
    if cached is not None:
        try:
            calibration = stats.Calibration.from_bytes(bytes(cached.artifact))
        except stats.StaleCalibration:
            calibration = None
        if calibration is not None and calibration.matches_registry():
            return calibration
        # Made before a statistic was added or removed (or in an older format): thresholds are
        # stored by name, so the stale row is recomputed rather than read by position.
        cached.delete()
    calibration = stats.calibrate(_fitted(baseline, target), false_alarm_rate=false_alarm_rate, seed=baseline.seed)
    BaselineCalibration.objects.get_or_create(
        baseline=baseline, target=target, window_size=GRID_WINDOW_SIZE, false_alarm_rate=false_alarm_rate,
        defaults={"artifact": calibration.to_bytes()},
    )
    return calibration


def response_style(*, baseline: Baseline, false_alarm_rate: float) -> stats.style.StyleBaseline | None:
    """The baseline's response-style calibration at ``false_alarm_rate`` (recalibrated from its stored
    rows when the deployment's rate changed since the fit); None for baselines fitted before style existed."""
    if not baseline.response_style_artifact:
        return None
    style = stats.style.StyleBaseline.from_bytes(bytes(baseline.response_style_artifact))
    if style.false_alarm_rate != false_alarm_rate:
        style = stats.style.fit_style(style.pool, false_alarm_rate=false_alarm_rate, seed=style.seed)
    return style


def window_completeness(*, run: DriftRun) -> tuple[int, int, int]:
    """(samples in the window, without a vector of the baseline's model yet, with another model's vector)."""
    in_window = ProductionSample.objects.filter(
        deployment=run.deployment, client_timestamp__gte=run.window_start, client_timestamp__lt=run.window_end
    )
    total = in_window.count()
    column = f"{TARGET_COLUMNS[run.target]}_embedding"
    missing = in_window.filter(**{f"{column}__isnull": True}).count()
    other_model = in_window.filter(**{f"{column}__isnull": False}).exclude(embedding_model=run.baseline.embedding_model).count()
    return total, missing, other_model


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
    # Only the compute path reads the fitted artifacts (megabytes); here the row is a foreign key.
    baseline = (Baseline.objects.filter(deployment=deployment, is_active=True, status=Baseline.Status.FITTED)
                .defer("prompt_artifact", "response_artifact", "sample_ids").first())
    if baseline is None:
        raise ValidationError({"baseline": f"deployment {deployment.slug} has no fitted baseline yet; create one first"})
    runs, created = [], []
    for target in targets:
        run, is_new = _live_run_get_or_create(
            deployment=deployment, baseline=baseline, window_start=window_start, window_end=window_end,
            target=target, trigger=trigger,
        )
        runs.append(run)
        if is_new:
            created.append(run)
    if enqueue:
        from ..tasks import drift_run_compute_task

        for run in created:
            transaction.on_commit(lambda run_id=run.id: drift_run_compute_task.delay(run_id))
    return runs


def _live_run_get_or_create(*, deployment, baseline, window_start, window_end, target, trigger) -> tuple[DriftRun, bool]:
    """The window's live (not failed) run for the target, created when there is none.

    Idempotent under duplicate beats and API retries: the partial unique constraint
    driftrun_one_live_per_window decides a race, and the loser reads the winner's run.
    """
    live = DriftRun.objects.filter(
        deployment=deployment, target=target, window_start=window_start, window_end=window_end,
    ).exclude(status=DriftRun.Status.FAILED)
    existing = live.first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return DriftRun.objects.create(
                deployment=deployment, baseline=baseline, window_start=window_start, window_end=window_end,
                target=target, trigger=trigger,
            ), True
    except IntegrityError:
        return live.get(), False


class RetryRefused(Exception):
    """The run cannot be retried now; the message says why (shown to the caller with 409)."""


@transaction.atomic
def drift_run_retry(*, run: DriftRun, user) -> DriftRun:
    """Put a failed run back to PENDING and queue it (saved, so the audit trail records who retried it).

    Refused unless the run failed, or when the window already has another live run for the target (a beat
    or a caller evaluated it again meanwhile: that run is the window's answer).
    """
    run = DriftRun.objects.select_for_update().get(pk=run.pk)
    if run.status != DriftRun.Status.FAILED:
        raise RetryRefused(f"drift run {run.pk} is {run.status}; only a failed run can be retried")
    live = (DriftRun.objects.filter(deployment_id=run.deployment_id, target=run.target, window_start=run.window_start,
                                    window_end=run.window_end).exclude(status=DriftRun.Status.FAILED).first())
    if live is not None:
        raise RetryRefused(f"the window already has drift run {live.pk} ({live.status}) for {run.target}")
    run.status = DriftRun.Status.PENDING
    run.error, run.finished_at, run.heartbeat_at, run.requeue_count = "", None, None, 0
    try:
        with transaction.atomic():
            run.save(update_fields=["status", "error", "finished_at", "heartbeat_at", "requeue_count"])
    except IntegrityError:  # a live run created between the check and the save
        raise RetryRefused(f"the window already has a live drift run for {run.target}") from None
    logger.info("drift run %s retried by %s", run.pk, getattr(user, "username", user))
    from ..tasks import drift_run_compute_task

    transaction.on_commit(lambda: drift_run_compute_task.delay(run.pk), robust=True)
    return run


def drift_run_claim(*, run: DriftRun) -> bool:
    """Take the run for this worker: pending, incomplete (waiting for vectors), or running under a lease that
    ran out. One UPDATE decides, so a redelivered or re-queued task never computes a run another worker holds."""
    now = timezone.now()
    claimable = (Q(status__in=[DriftRun.Status.PENDING, DriftRun.Status.INCOMPLETE])
                 | Q(status=DriftRun.Status.RUNNING, heartbeat_at__lt=now - leases.run_lease()))
    return DriftRun.objects.filter(claimable, pk=run.pk).update(status=DriftRun.Status.RUNNING, heartbeat_at=now) == 1


def drift_run_compute(*, run: DriftRun) -> DriftRun:
    """Evaluate one window against the run's baseline and store every statistic with its verdict.

    The run's lease is renewed from a heartbeat thread while it computes (calibration can take minutes).
    """
    if not drift_run_claim(run=run):
        # A redelivered task, a run the reaper failed, or one another worker holds: nothing to do here.
        run.refresh_from_db()
        logger.info("drift run %s is %s; not computed here", run.id, run.status)
        return run
    run.refresh_from_db()
    with leases.Heartbeat(DriftRun, run.pk, status=DriftRun.Status.RUNNING):
        return _drift_run_compute(run)


def _drift_run_compute(run: DriftRun) -> DriftRun:
    started = time.perf_counter()
    deployment = run.deployment
    try:
        if run.baseline.embedding_model != embeddings.MODEL_NAME:
            raise ValidationError({"baseline": (
                f"baseline {run.baseline_id} was fitted on {run.baseline.embedding_model} vectors but samples are "
                f"embedded with {embeddings.MODEL_NAME}; fit a new baseline"
            )})
        total, missing, other_model = window_completeness(run=run)
        run.sample_count = total
        run.missing_count = missing + other_model
        if other_model:
            raise ValidationError({"baseline": (
                f"{other_model} samples in the window carry vectors of another embedding model than the baseline's "
                f"({run.baseline.embedding_model}); vectors of two models are never compared"
            )})
        if missing:
            # Never compute on part of a window: the backlog's samples are newest-last, so a partial
            # window is a biased one. The task retries later; the run says why it waits.
            run.status = DriftRun.Status.INCOMPLETE
            run.drifted = None
            run.error = f"{missing} of {total} samples in the window have no vector yet; not evaluated"
            run.duration_seconds = time.perf_counter() - started
            run.finished_at = timezone.now()
            run.save()
            return run
        ids, vectors = selectors.sample_vectors(
            deployment=deployment, target=TARGET_COLUMNS[run.target],
            start=run.window_start, end=run.window_end, at_most=MAX_WINDOW_VECTORS, seed=run.id,
        )
        minimum = max(deployment.min_window_samples, stats.MIN_WINDOW_SIZE)
        if len(ids) < minimum:
            run.status = DriftRun.Status.INSUFFICIENT_DATA
            run.error = f"{len(ids)} embedded samples in the window; at least {minimum} are needed for a verdict"
            run.drifted = None
        else:
            fitted = _fitted(run.baseline, run.target)
            calibration = baseline_calibration(
                baseline=run.baseline, target=run.target, false_alarm_rate=target_false_alarm_rate(deployment),
            )
            cap = min(MAX_WINDOW_VECTORS, calibration.max_window_size)
            if len(ids) > cap:
                keep = np.sort(np.random.default_rng(run.id).choice(len(ids), cap, replace=False))
                ids, vectors = ids[keep], vectors[keep]
            text_field = "prompt" if run.target == "prompts" else "response"
            texts_by_id = dict(ProductionSample.objects.filter(id__in=ids.tolist()).values_list("id", text_field))
            texts = [texts_by_id[int(i)] for i in ids]
            report = stats.evaluate_window(fitted, calibration, vectors, texts, seed=run.id)
            data = report.to_dict()
            for topic in data["topics"]:
                topic["sample_ids"] = [int(ids[i]) for i in topic["representative_indices"]]
            run.evaluated_count = len(ids)
            run.long_text_share = float(np.mean(embeddings.long_text_mask(texts)))
            run.results = data["results"]
            run.combined = {**data["combined"], "thresholds": data["combined_thresholds"],
                            "false_alarm_rate": data["false_alarm_rate"],
                            "deployment_false_alarm_rate": deployment.drift_false_alarm_rate,
                            "reference_size": data["reference_size"]}
            run.topics = data["topics"]
            if run.target == "responses":
                # Its own finding, never part of the drift decision: a style change is context for the
                # verdict (often benign: a prompt or setting change), not evidence of topic drift.
                style = response_style(baseline=run.baseline, false_alarm_rate=target_false_alarm_rate(deployment))
                if style is not None:
                    run.combined["style"] = stats.style.evaluate_style(
                        style, stats.style.style_features(texts)[: style.max_window_size]
                    ).to_dict()
                    run.combined["findings"] = (
                        [stats.style.FINDING] if run.combined["style"]["shifted"] else []
                    )
            run.drifted = report.drifted
            res = report.results
            run.js, run.js_threshold = res["js"].statistic, res["js"].threshold
            run.wasserstein = res["wasserstein"].statistic
            run.mmd_p_value = res["mmd"].p_value
            run.novel_share = report.novel_share
            run.status = DriftRun.Status.COMPLETED
            run.error = ""
    except (OperationalError, InterfaceError):
        # The database went away mid-run: not the run's fault. Give the claim back so the task's retry (or,
        # if even this write fails, the reaper one lease later) computes it again.
        try:
            DriftRun.objects.filter(pk=run.pk, status=DriftRun.Status.RUNNING).update(status=DriftRun.Status.PENDING)
        except DatabaseError:
            logger.warning("drift run %s: database unavailable; the reaper will queue it again", run.pk)
        raise
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
    if run.status == DriftRun.Status.COMPLETED:
        metric_sinks.queue_export(kind="drift_run", object_id=run.id)
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
    # Failed runs do not block the window: the next beat retries it.
    if DriftRun.objects.filter(deployment=deployment, window_start=start, window_end=end).exclude(
        status=DriftRun.Status.FAILED
    ).exists():
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
