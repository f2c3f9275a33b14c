"""A verdict as a MetricRecord for the metric sinks (drift_app/metric_sinks.py)."""

from __future__ import annotations

from drift_app.metric_sinks import MetricRecord


def verdict_record(verdict_id: int) -> MetricRecord:
    from .models import Verdict

    v = Verdict.objects.select_related("deployment").get(id=verdict_id)
    flags = {"material_degradation": v.material_degradation, "prompt_drift": v.prompt_drift,
             "response_drift": v.response_drift}
    metrics = {"golden_pass_rate": v.golden_pass_rate, "baseline_pass_rate": v.baseline_pass_rate,
               "relative_drop_pct": v.relative_drop_pct, "version": v.version,
               **{k: (1.0 if b else 0.0) for k, b in flags.items() if b is not None}}
    return MetricRecord(
        kind="verdict", object_id=v.id, deployment=v.deployment.slug,
        run_name=f"verdict {v.window_start:%Y-%m-%d %H:%M} v{v.version}",
        metrics={k: v for k, v in metrics.items() if v is not None},
        params={"verdict_class": v.verdict_class, "window_start": v.window_start.isoformat(),
                "window_end": v.window_end.isoformat()},
        tags={"driftdesk.verdict_class": v.verdict_class},
    )
