"""The later parts of the demo scenario, in order: drift, golden set, feedback."""

from __future__ import annotations

import datetime as dt

from . import services
from .demo import WEEKS
from .models import DriftRun


def drift(*, deployment, timeline, stdout) -> None:
    baseline = services.baseline_create(
        deployment=deployment, period_start=timeline.start, period_end=timeline.baseline_end, enqueue=False
    )
    services.baseline_fit(baseline=baseline)
    stdout.write(f"Baseline fitted on {baseline.sample_count} samples (weeks 1-3).")
    for week in range(4, WEEKS + 1):
        start = timeline.week_start(week)
        runs = services.drift_runs_create(
            deployment=deployment, window_start=start, window_end=start + dt.timedelta(weeks=1),
            trigger=DriftRun.Trigger.DEMO, enqueue=False,
        )
        for run in runs:
            run = services.drift_run_compute(run=run)
            stdout.write(
                f"  week {week} {run.target:<9} drifted={run.drifted} js={run.js:.3f} (thr {run.js_threshold:.3f}) "
                f"novel={run.novel_share:.0%} topics={[t['keywords'][:3] for t in run.topics][:3]}"
            )


def run(*, deployment, users, timeline, stdout) -> None:
    drift(deployment=deployment, timeline=timeline, stdout=stdout)
