"""An evaluation run as a MetricRecord for the metric sinks (drift_app/metric_sinks.py)."""

from __future__ import annotations

from drift_app.metric_sinks import MetricRecord


def eval_run_record(run_id: int) -> MetricRecord:
    from .models import EvalRun

    run = EvalRun.objects.select_related("deployment", "golden_version").get(id=run_id)
    metrics = {"pass_rate": run.pass_rate, "passed": run.passed_count, "failed": run.failed_count,
               "errored": run.errored_count, "items": run.item_count, "regressed": run.regressed_count,
               "relative_drop_pct": run.relative_drop_pct,
               **{f"pass_rate.{k}": v for k, v in (run.category_pass_rates or {}).items()}}
    return MetricRecord(
        kind="eval_run", object_id=run.id, deployment=run.deployment.slug,
        run_name=f"evaluation {run.model_version} on golden v{run.golden_version.number}",
        metrics={k: v for k, v in metrics.items() if v is not None},
        params={"model_version": run.model_version, "answer_source": run.answer_source,
                "similarity_threshold": str(run.similarity_threshold), "judge_model": run.judge_model,
                "combination_rule": run.combination_rule, "is_baseline": str(run.is_baseline),
                "golden_version": str(run.golden_version.number)},
    )
