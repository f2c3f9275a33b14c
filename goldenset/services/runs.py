"""Evaluation runs: create, execute (endpoint or uploaded answers), score, compare with the baseline run."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from drift_app import metric_sinks, outbound
from drift_app.models import Deployment
from drift_app.services import leases
from drift_app.roles import SME, has_role
from drift_app.stats import scoring

from .. import scorers
from ..llm_client import ChatClient
from ..models import (
    EvalConfig,
    EvalResult,
    EvalRun,
    GoldenItem,
    GoldenItemEvent,
    GoldenSetVersion,
    JudgeCalibrationLabel,
)
from .common import MAX_ANSWER_CHARS, _reason
from .config import eval_config_get
from .items import encode_cached
from . import reliability

logger = logging.getLogger(__name__)

Status = GoldenItem.Status
Action = GoldenItemEvent.Action



# --- evaluation runs -------------------------------------------------------------------------------

def _latest_version(deployment: Deployment) -> GoldenSetVersion:
    # The deployment's team's golden set: a team never evaluates against another team's items.
    version = GoldenSetVersion.objects.filter(team_id=deployment.team_id).order_by("-number").first()
    if version is None or version.item_count == 0:
        raise ValidationError("The team's golden set has no approved items yet: approve items before evaluating.")
    return version


@transaction.atomic
def eval_run_create(
    *, deployment: Deployment, user=None, model_version: str | None = None, answers: dict[int, str] | None = None,
    trigger: str = EvalRun.Trigger.API, queue: bool = True, answers_produced_at=None, schedule_tick=None,
) -> EvalRun:
    """Create a run of the latest golden-set version for a model version.

    `answers` maps golden item id → answer text (uploaded answers, path b); without it the answers come
    from the deployment's endpoint (path a). Items without an uploaded answer end errored.
    With queue=True the scoring runs in a worker after commit.
    """
    version = _latest_version(deployment)
    config = eval_config_get(deployment=deployment)
    model_version = (model_version or deployment.current_model_version).strip()
    if not model_version or len(model_version) > 200:
        raise ValidationError({"model_version": "must be 1 to 200 characters"})
    if answers is None and not config.has_endpoint:
        raise ValidationError("This deployment has no model endpoint configured: upload answers instead.")
    version_items = list(version.items.all())
    if answers_produced_at is not None:
        if answers is None:
            raise ValidationError({"answers_produced_at": "only uploaded answers can state when they were produced"})
        if timezone.is_naive(answers_produced_at):
            raise ValidationError({"answers_produced_at": "must carry a time zone"})
        if answers_produced_at > timezone.now():
            raise ValidationError({"answers_produced_at": "must not be in the future"})
    if answers is not None:
        known = {vi.item_id for vi in version_items}
        unknown = sorted(set(answers) - known)
        if unknown:
            raise ValidationError({"answers": f"golden items not in version {version.number}: "
                                              + ", ".join(map(str, unknown[:20]))})
        bad = [k for k, v in answers.items() if not isinstance(v, str) or len(v) > MAX_ANSWER_CHARS or "\x00" in v]
        if bad:
            raise ValidationError({"answers": f"answers must be strings of at most {MAX_ANSWER_CHARS} characters "
                                              f"without NUL; see items {', '.join(map(str, bad[:20]))}"})
    run = EvalRun.objects.create(
        deployment=deployment, model_version=model_version, golden_version=version, created_by=user,
        answer_source=EvalRun.AnswerSource.UPLOADED if answers is not None else EvalRun.AnswerSource.ENDPOINT,
        trigger=trigger, similarity_threshold=config.similarity_threshold,
        judge_model=config.judge_model if config.judge_enabled else "",
        judge_prompt_version=scoring.JUDGE_PROMPT_VERSION if config.judge_enabled else "",
        endpoint_model=config.endpoint_model if answers is None else "", item_count=len(version_items),
        answers_produced_at=answers_produced_at,
        schedule_tick=schedule_tick,
        combination_rule=config.combination_rule,
        scorer_config=scorers.scorer_config(
            rule=config.combination_rule, similarity_threshold=config.similarity_threshold,
            alignment_threshold=config.alignment_threshold,
            judge_model=config.judge_model if config.judge_enabled else ""),
    )
    EvalResult.objects.bulk_create([
        EvalResult(run=run, version_item=vi, item_id=vi.item_id,
                   answer=answers.get(vi.item_id) if answers is not None else None)
        for vi in version_items
    ])
    if queue:
        from ..tasks import eval_run_execute_task

        transaction.on_commit(lambda: eval_run_execute_task.delay(run.id), robust=True)
    return run


def _client(config: EvalConfig, *, model: str) -> ChatClient:
    # Only variables named with the configured prefix (drift_app/outbound.py); raises OutboundRefused.
    key = outbound.api_key(config.api_key_env)
    return ChatClient(base_url=config.endpoint_base_url, model=model, api_key=key, timeout_s=config.timeout_s,
                      max_retries=config.max_retries, concurrency=config.concurrency)


def eval_run_execute(*, run: EvalRun, client: ChatClient | None = None, judge_client: ChatClient | None = None) -> EvalRun:
    """Obtain answers (endpoint runs), score every item, store results and the comparison with the baseline.

    Network calls happen outside any transaction; results are written in one transaction at the end.
    Safe to run again on a run that failed half-way (answers already obtained are kept).
    """
    if not reliability.eval_run_claim(run=run):
        # Done, or a redelivered (or re-queued) task while another worker still holds the lease.
        return EvalRun.objects.select_related("deployment").get(pk=run.pk)
    run = EvalRun.objects.select_related("deployment").get(pk=run.pk)
    # The lease is renewed from a thread for as long as the run takes (slow endpoints, judge calls, scoring).
    with leases.Heartbeat(EvalRun, run.pk, status=EvalRun.Status.RUNNING):
        return _eval_run_execute(run, client=client, judge_client=judge_client)


def _eval_run_execute(run: EvalRun, *, client: ChatClient | None, judge_client: ChatClient | None) -> EvalRun:
    config = eval_config_get(deployment=run.deployment)
    results = list(run.results.select_related("version_item").order_by("item_id"))
    try:
        errors: dict[int, str] = {}
        if run.answer_source == EvalRun.AnswerSource.ENDPOINT:
            missing = [r for r in results if r.answer is None]
            client = client or _client(config, model=run.endpoint_model or config.endpoint_model)
            for start in range(0, len(missing), reliability.ANSWER_BATCH):
                batch = missing[start : start + reliability.ANSWER_BATCH]
                replies = client.complete_many([[{"role": "user", "content": r.version_item.prompt}] for r in batch])
                for r, reply in zip(batch, replies):
                    r.attempts, r.latency_ms = reply.attempts, reply.latency_ms
                    if reply.ok:
                        r.answer = reply.content
                    else:
                        errors[r.id] = reply.error
                # Stored per batch, and the lease renewed: a killed run resumes without asking again.
                EvalResult.objects.bulk_update([r for r in batch if r.answer is not None],
                                               ["answer", "attempts", "latency_ms"])
                reliability.eval_run_heartbeat(run=run)
        for r in results:
            if r.answer is None and r.id not in errors:
                errors[r.id] = "no answer was uploaded for this item"
        scorable = [r for r in results if r.id not in errors]
        pinned = run.scorer_config or {}
        context = scorers.ScoringContext(
            similarity_threshold=run.similarity_threshold, encode=encode_cached, judge_model=run.judge_model,
            alignment_threshold=pinned.get("alignment_threshold", scoring.DEFAULT_ALIGNMENT_THRESHOLD))
        if run.judge_model:
            judge_client = judge_client or _client(config, model=run.judge_model)
            context.judge_complete_many = judge_client.complete_many
        items = [scorers.ScoringItem(prompt=r.version_item.prompt, reference=r.version_item.reference_answer,
                                     acceptance=r.version_item.acceptance) for r in scorable]
        per_item = scorers.score_all(items, [r.answer for r in scorable], context)
        if run.judge_model:
            _flag_judge_calibration(run, per_item)
        for r, outcomes in zip(scorable, per_item):
            _store_outcomes(r, outcomes, run=run)
            status, reason = scorers.combine(outcomes, run.combination_rule or "any-content")
            if status == scorers.ERRORED:
                errors[r.id] = reason
                continue
            r.outcome = EvalResult.Outcome.PASSED if status == scorers.PASSED else EvalResult.Outcome.FAILED
        for r in results:
            if r.id in errors:
                # Errored is never passed: no score, no verdict, left out of the pass rate.
                r.outcome, r.error, r.score = EvalResult.Outcome.ERRORED, errors[r.id][:2000], None
        return _eval_run_finish(run=run, results=results)
    except Exception as exc:
        logger.exception("golden evaluation run %s failed", run.pk)
        EvalRun.objects.filter(pk=run.pk).update(status=EvalRun.Status.FAILED, error=str(exc)[:2000],
                                                 finished_at=timezone.now())
        raise


def _flag_judge_calibration(run: EvalRun, per_item: list[dict[str, scorers.ScoreOutcome]]) -> None:
    """Every judge verdict carries its series' agreement with SMEs; an uncalibrated judge says so."""
    from ..selectors import judge_calibration_status

    status = judge_calibration_status(deployment=run.deployment, judge_model=run.judge_model,
                                      judge_prompt_version=run.judge_prompt_version)
    for outcomes in per_item:
        judge = outcomes.get("judge")
        if judge is None:
            continue
        reason = judge.reason if status["calibrated"] else f"{judge.reason} [uncalibrated judge: {status['reason']}]"
        outcomes["judge"] = scorers.ScoreOutcome(judge.status, reason, judge.score,
                                                 {**judge.details, "calibration": status})


def _store_outcomes(r: EvalResult, outcomes: dict[str, scorers.ScoreOutcome], *, run: EvalRun) -> None:
    """Every scorer's outcome by name, plus the columns the pages and reports read."""
    r.scorer_outcomes = {name: o.to_dict() for name, o in outcomes.items()}
    exact, semantic = outcomes.get("exact"), outcomes.get("semantic")
    acceptance, judge = outcomes.get("acceptance"), outcomes.get("judge")
    r.exact_match = bool(exact and exact.status == scorers.PASSED)
    if semantic is not None and semantic.score is not None:
        r.similarity = semantic.score
    if acceptance is not None:
        r.acceptance_ok = None if acceptance.status == scorers.SKIPPED else acceptance.status == scorers.PASSED
        r.acceptance_problems = acceptance.details.get("problems", [])
    if judge is not None and judge.status in (scorers.PASSED, scorers.FAILED):
        r.judge_passed, r.judge_score = judge.status == scorers.PASSED, judge.score
        r.judge_rationale = judge.details.get("rationale", judge.reason)
        r.judge_model, r.judge_prompt_version = run.judge_model, run.judge_prompt_version
    alignment = outcomes.get("alignment")
    if r.judge_passed is not None:
        score = r.judge_score
    elif run.combination_rule and run.combination_rule != "any-content" and alignment is not None:
        score = alignment.score  # what decided the content under the default rule
    else:
        score = r.similarity
    r.score = None if score is None else round(float(score), 4)


@transaction.atomic
def _eval_run_finish(*, run: EvalRun, results: list[EvalResult]) -> EvalRun:
    EvalResult.objects.bulk_update(results, [
        "answer", "outcome", "score", "exact_match", "similarity", "acceptance_ok", "acceptance_problems", "scorer_outcomes",
        "judge_passed", "judge_score", "judge_rationale", "judge_model", "judge_prompt_version", "error",
        "attempts", "latency_ms",
    ])
    passed = sum(r.outcome == EvalResult.Outcome.PASSED for r in results)
    failed = sum(r.outcome == EvalResult.Outcome.FAILED for r in results)
    errored = sum(r.outcome == EvalResult.Outcome.ERRORED for r in results)
    counts: dict[str, dict[str, int]] = {}
    for r in results:
        if r.outcome == EvalResult.Outcome.ERRORED:
            continue
        c = counts.setdefault(r.version_item.category, {"passed": 0, "scored": 0})
        c["scored"] += 1
        c["passed"] += r.outcome == EvalResult.Outcome.PASSED
    run.passed_count, run.failed_count, run.errored_count = passed, failed, errored
    run.pass_rate = round(passed / (passed + failed), 4) if passed + failed else None
    run.category_counts = dict(sorted(counts.items()))
    run.category_pass_rates = {k: round(v["passed"] / v["scored"], 4) for k, v in sorted(counts.items())}
    if passed + failed == 0:
        run.status, run.error = EvalRun.Status.FAILED, "Every item errored: no answer could be scored."
    else:
        run.status, run.error = EvalRun.Status.SUCCEEDED, ""
    run.finished_at = run.finished_at if run.finished_at and run.finished_at >= run.started_at else timezone.now()
    run.save()
    if run.status == EvalRun.Status.SUCCEEDED:
        baseline = EvalRun.objects.filter(deployment=run.deployment, is_baseline=True).exclude(pk=run.pk).first()
        if baseline is None and not run.is_baseline:
            # The first successful run of a deployment becomes its baseline until someone picks another.
            run.is_baseline = True
            run.save(update_fields=["is_baseline"])
        else:
            _compare_with_baseline(run=run, baseline=baseline)
        metric_sinks.queue_export(kind="eval_run", object_id=run.id)
    return run


def comparison_refusal(*, run: EvalRun, baseline: EvalRun) -> str:
    """Why `run` cannot be compared with `baseline` ('' when it can): they must be scored the same way."""
    if not baseline.scorer_config:
        return (f"Not compared with baseline run {baseline.pk}: it was scored before scorer configurations were "
                f"recorded. Re-score the baseline's model or choose a baseline scored with this configuration.")
    differences = scorers.scorer_config_differences(run.scorer_config or {}, baseline.scorer_config)
    if differences:
        return (f"Not compared with baseline run {baseline.pk}: it was scored with another scorer configuration "
                f"({'; '.join(differences)}). Pass rates under different scorers are not comparable.")
    return ""


def _compare_with_baseline(*, run: EvalRun, baseline: EvalRun | None) -> None:
    EvalResult.objects.filter(run=run).update(regressed=False)
    run.comparison_refused = ""
    refusal = comparison_refusal(run=run, baseline=baseline) if baseline is not None and baseline.pk != run.pk else ""
    if baseline is None or baseline.pk == run.pk or refusal:
        run.baseline_run, run.relative_drop_pct, run.regressed_count = None, None, 0
        run.comparison_refused = refusal
    else:
        passed_before = set(
            baseline.results.filter(outcome=EvalResult.Outcome.PASSED).values_list("item_id", flat=True)
        )
        regressed = EvalResult.objects.filter(run=run, outcome=EvalResult.Outcome.FAILED, item_id__in=passed_before)
        run.regressed_count = regressed.update(regressed=True)
        run.baseline_run = baseline
        run.relative_drop_pct = scoring.pass_rate_drop_pct(baseline.pass_rate, run.pass_rate)
    run.save(update_fields=["baseline_run", "relative_drop_pct", "regressed_count", "comparison_refused"])


@transaction.atomic
def eval_run_set_baseline(*, run: EvalRun, user, reason: str) -> EvalRun:
    """Make `run` the deployment's baseline; later runs are compared with it."""
    _reason(reason)
    run = EvalRun.objects.select_for_update().get(pk=run.pk)
    if run.status != EvalRun.Status.SUCCEEDED:
        raise ValidationError("Only a succeeded run can be the baseline.")
    EvalRun.objects.filter(deployment=run.deployment, is_baseline=True).exclude(pk=run.pk).update(is_baseline=False)
    run.is_baseline = True
    run.save(update_fields=["is_baseline"])
    _compare_with_baseline(run=run, baseline=None)
    logger.info("baseline of %s set to run %s by %s: %s", run.deployment.slug, run.pk, user, reason)
    return run


def eval_scheduled(*, deployment: Deployment) -> EvalRun | None:
    """The scheduled evaluation of a deployment's current model version through its endpoint."""
    config = eval_config_get(deployment=deployment)
    if not config.has_endpoint:
        logger.warning("scheduled golden evaluation of %s skipped: no endpoint configured", deployment.slug)
        return None
    tick = reliability.schedule_tick(config.schedule_cron, timezone.now())
    model_version = deployment.current_model_version
    existing = EvalRun.objects.filter(deployment=deployment, model_version=model_version,
                                      schedule_tick=tick).exclude(status=EvalRun.Status.FAILED).first()
    if existing is None:
        try:
            run = eval_run_create(deployment=deployment, trigger=EvalRun.Trigger.SCHEDULE, queue=False,
                                  schedule_tick=tick)
        except IntegrityError:  # a duplicate beat for the same tick won the race
            return None
    elif existing.status == EvalRun.Status.SUCCEEDED:
        return existing
    else:
        run = existing  # resume (answers stored so far are kept)
    return eval_run_execute(run=run)


def eval_on_quality_drop(*, deployment: Deployment, evidence: dict) -> EvalRun | None:
    """Queue a golden evaluation when label-free quality evidence shows a drop and one can run.

    `evidence` is drift_app.selectors.quality_evidence(...). Nothing is queued when no quality score
    degraded, when the deployment has no endpoint (answers cannot be obtained), or when a run of the
    deployment is already pending or running. Returns the queued run, or None.
    """
    if not evidence.get("degraded"):
        return None
    config = eval_config_get(deployment=deployment)
    if not config.has_endpoint:
        logger.info("quality drop on %s: no endpoint, golden evaluation not queued", deployment.slug)
        return None
    busy = EvalRun.objects.filter(deployment=deployment, status__in=[EvalRun.Status.PENDING, EvalRun.Status.RUNNING])
    if busy.exists():
        return None
    try:
        return eval_run_create(deployment=deployment, trigger=EvalRun.Trigger.QUALITY, queue=True)
    except ValidationError as exc:
        logger.info("quality drop on %s: golden evaluation not queued: %s", deployment.slug, exc)
        return None


# --- judge calibration ----------------------------------------------------------------------------

@transaction.atomic
def judge_calibration_label(*, result: EvalResult, user, passed: bool, note: str = "") -> "JudgeCalibrationLabel":
    """An SME's own pass/fail on an item the judge graded; one per SME and item (never overwritten)."""
    from ..models import JudgeCalibrationLabel

    if not has_role(user, SME, team=result.run.deployment.team_id):
        raise PermissionDenied("Only an SME of the deployment's team may label its judged items.")
    if result.judge_passed is None:
        raise ValidationError({"result": "the judge did not grade this item: nothing to calibrate against"})
    if not isinstance(passed, bool):
        raise ValidationError({"passed": "must be true or false"})
    if not isinstance(note, str) or len(note) > 2000:
        raise ValidationError({"note": "must be a string of at most 2000 characters"})
    if JudgeCalibrationLabel.objects.filter(result=result, labelled_by=user).exists():
        raise ValidationError({"result": "you have already labelled this item"})
    label = JudgeCalibrationLabel.objects.create(
        result=result, labelled_by=user, passed=passed, note=note.strip(),
        judge_model=result.judge_model, judge_prompt_version=result.judge_prompt_version)
    logger.info("judge calibration label on result %s by %s: %s", result.pk, user, "pass" if passed else "fail")
    return label
