"""Verdicts part of the demo scenario (deployment `acme-support`), run after drift, golden set and feedback.

One verdict per weekly drift window (weeks 4-8). With the demo's data the timeline reads:
  week 4      stable               (golden v1 is the baseline, no drift)
  weeks 5-6   benign change        (new topics: Nimbus Functions, Terraform v2, Agents SDK; golden set
                                    stable) and, from 30% new-topic share, retraining advice
  week 7      benign change        (v2 rewords its answers: response drift, golden set still passes)
  week 8      genuine degradation  (v3: golden pass rate well below baseline, regressions in billing
                                    and security) and one code-red alert, e-mailed and POSTed once.
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
