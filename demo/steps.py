"""The later parts of the demo scenario, in order: drift, golden set, feedback, verdicts."""

from __future__ import annotations

import datetime as dt

from demo.generator import WEEKS
from drift_app import services
from drift_app.models import DriftRun


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


def golden(*, deployment, users, timeline, stdout) -> None:
    from demo.golden import load_demo
    from goldenset import selectors as golden_selectors

    load_demo(deployment=deployment, users=users, timeline=timeline.versions)
    for run in reversed(list(golden_selectors.eval_run_list(deployment=deployment))):
        drop = f"drop {run.relative_drop_pct:.1f}% vs baseline" if run.relative_drop_pct is not None else "baseline"
        stdout.write(f"  golden eval {run.model_version}: pass rate {run.pass_rate:.0%} ({drop}), "
                     f"{run.regressed_count} regressed")


def feedback(*, deployment, users, timeline, stdout) -> None:
    from demo.feedback import load_demo

    load_demo(deployment=deployment, users=users, start=timeline.start, end=timeline.end)
    stdout.write("  flags, SME labels and one promotion loaded.")


def verdicts(*, deployment, users, timeline, stdout) -> None:
    from demo.verdicts import load_demo

    load_demo(deployment=deployment, users=users, timeline=timeline, stdout=stdout)


def compliance(*, deployment, users, timeline, stdout) -> None:
    from demo.compliance import load_demo

    report = load_demo(deployment=deployment, users=users, timeline=timeline)
    stdout.write(f"  report #{report.pk} for {report.period_start:%Y-%m-%d}..{report.period_end:%Y-%m-%d}, "
                 f"sha256 {report.pdf_sha256[:16]}…")


def run(*, deployment, users, timeline, stdout) -> None:
    stdout.write("Drift:")
    drift(deployment=deployment, timeline=timeline, stdout=stdout)
    stdout.write("Golden set:")
    golden(deployment=deployment, users=users, timeline=timeline, stdout=stdout)
    stdout.write("Feedback:")
    feedback(deployment=deployment, users=users, timeline=timeline, stdout=stdout)
    stdout.write("Verdicts:")
    verdicts(deployment=deployment, users=users, timeline=timeline, stdout=stdout)
    stdout.write("Compliance:")
    compliance(deployment=deployment, users=users, timeline=timeline, stdout=stdout)
