"""Demo hook: the compliance officer's report of the demo deployment's period (it states the v3 drop).

Called by the demo generator as `load_demo(deployment=..., users=..., timeline=...)`. `users` maps persona
names (or roles) to users; `timeline` has the period's `start` and `end` (datetimes or ISO strings).
"""

from __future__ import annotations

import datetime as dt

from compliance import audit, services
from compliance.models import ComplianceReport


def _instant(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _period(timeline) -> tuple[dt.datetime, dt.datetime]:
    get = timeline.get if isinstance(timeline, dict) else lambda k, d=None: getattr(timeline, k, d)
    start = get("start") or get("period_start")
    end = get("end") or get("period_end")
    if start is None or end is None:
        raise ValueError("timeline needs start and end")
    return _instant(start), _instant(end)


def _officer(users):
    if not users:
        return None
    get = users.get if isinstance(users, dict) else lambda k, d=None: getattr(users, k, d)
    officer = get("compliance") or get("charlie")
    # The demo command passes {role: [users]}; tests may pass {role: user}.
    if isinstance(officer, (list, tuple)):
        officer = officer[0] if officer else None
    return officer


def load_demo(*, deployment, users=None, timeline=None) -> ComplianceReport:
    start, end = _period(timeline)
    # A demo timeline may end in the future (the demo clock runs ahead): stop at now.
    from django.utils import timezone

    end = min(end, timezone.now())
    officer = _officer(users)
    with audit.acting_as(officer):
        return services.report_generate(deployment=deployment, start=start, end=end, user=officer,
                                        trigger=ComplianceReport.Trigger.DEMO)
