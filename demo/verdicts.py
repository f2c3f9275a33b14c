"""Verdicts part of the demo scenario (deployment `acme-support`), run after drift, golden set and feedback.

One verdict per weekly drift window (weeks 4-8). Nothing here names an outcome: the engine judges
each week from the evidence the earlier demo steps produced. With the demo's data it finds:
  week 4  stable               v1 served; v1's golden evaluation (the baseline) ran this week; no drift
  week 5  benign change        new topics (Nimbus Functions, Terraform v2, Agents SDK) with v1's
                               evaluation 1 day before the week: fresh, golden set stable
  week 6  insufficient evidence  v1 still serves but its only evaluation is 8 days before the week,
                               older than the 7-day maximum age: stale. The verdict says so and asks
                               for an evaluation of v1 (queued when the deployment has an endpoint;
                               the demo has none, so the verdict says to upload answers)
  week 7  benign change        v2 rewords its answers (response drift); its own evaluation is not
                               significantly below the baseline; retraining advice (35% new topics)
  week 8  genuine degradation  v3's evaluation is significantly below the baseline, beyond the
                               code-red threshold: one code-red alert, e-mailed and POSTed once.
"""

from __future__ import annotations

import datetime as dt

from verdicts import services
from verdicts.models import Alert, AlertPolicy, Verdict

FIRST_WEEK, LAST_WEEK = 4, 8


def load_demo(*, deployment, users, timeline, stdout=None) -> list[Verdict]:
    """Compute the verdicts of weeks 4-8 in order (hysteresis needs them oldest first)."""
    AlertPolicy.objects.get_or_create(deployment=deployment)
    out = []
    for week in range(FIRST_WEEK, LAST_WEEK + 1):
        start = timeline.week_start(week)
        verdict = services.verdict_compute(deployment=deployment, window_start=start, window_end=start + dt.timedelta(weeks=1))
        out.append(verdict)
        if stdout is not None:
            stdout.write(f"  week {week} {verdict.verdict_class:<22} {verdict.explanation[:160]}")
    if stdout is not None:
        for alert in Alert.objects.filter(deployment=deployment).order_by("opened_at"):
            stdout.write(f"  alert #{alert.pk} {alert.tier}: {alert.title}")
    return out


def clear_demo(*, deployment) -> None:
    # Alerts protect the verdict that opened them: remove them first.
    Alert.objects.filter(deployment=deployment).delete()
    Verdict.objects.filter(deployment=deployment).delete()
    AlertPolicy.objects.filter(deployment=deployment).delete()
