"""Coverage gaps computed on a worker and cached per deployment and window.

Computing them takes seconds (a nearest-golden-item lookup per recent prompt, then clustering); the page
used to do it on every load. Now the page reads the cached result of the deployment's current window
(ISO week, day or hour: drift_app.selectors.window_floor) and queues a computation when there is none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from drift_app import selectors as drift_selectors
from drift_app.models import Deployment

from .. import selectors

# A window's result is kept a little longer than the longest window, then recomputed.
CACHE_SECONDS = 8 * 24 * 3600
# While a computation is queued or running, the page does not queue another.
LOCK_SECONDS = 600


def coverage_window(*, deployment: Deployment, now: dt.datetime | None = None) -> dt.datetime:
    window = deployment.drift_window if deployment.drift_window in drift_selectors.WINDOW_WIDTHS else "daily"
    return drift_selectors.window_floor(window=window, at=now or timezone.now())


def coverage_cache_key(*, deployment: Deployment, window_start: dt.datetime) -> str:
    return f"coverage-gaps:{deployment.pk}:{window_start.isoformat()}"


def coverage_gaps_refresh(*, deployment: Deployment, window_start: dt.datetime | None = None) -> dict:
    """Compute the deployment's coverage gaps now and cache them for the window."""
    window_start = window_start or coverage_window(deployment=deployment)
    report = selectors.coverage_gaps(deployment=deployment)
    data = {**dataclasses.asdict(report), "covered_share": report.covered_share,
            "computed_at": timezone.now().isoformat(), "window_start": window_start.isoformat()}
    key = coverage_cache_key(deployment=deployment, window_start=window_start)
    cache.set(key, data, CACHE_SECONDS)
    cache.delete(key + ":queued")
    return data


def coverage_gaps_request(*, deployment: Deployment, force: bool = False) -> bool:
    """Queue a computation for the current window unless one is queued already. True when one was queued."""
    window_start = coverage_window(deployment=deployment)
    key = coverage_cache_key(deployment=deployment, window_start=window_start)
    if force:
        cache.delete(key + ":queued")
    if not cache.add(key + ":queued", 1, LOCK_SECONDS):
        return False
    from ..tasks import coverage_gaps_task

    transaction.on_commit(lambda: coverage_gaps_task.delay(deployment.pk, window_start.isoformat()))
    return True


def coverage_gaps_cached(*, deployment: Deployment) -> dict | None:
    """The cached gaps of the current window, or None when they are still to be computed."""
    return cache.get(coverage_cache_key(deployment=deployment, window_start=coverage_window(deployment=deployment)))
