"""Prometheus metrics of this layer, read at scrape time (drift_app.ops.register_collector)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric


def collect() -> Iterable[Metric]:
    from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum

    from .models import EvalRun

    done = EvalRun.objects.filter(started_at__isnull=False, finished_at__isnull=False).aggregate(
        n=Count("id"), total=Sum(ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())),
    )
    yield GaugeMetricFamily("driftdesk_evaluation_seconds_count", "Golden-set evaluation runs finished",
                            value=done["n"] or 0)
    yield GaugeMetricFamily("driftdesk_evaluation_seconds_sum", "Seconds spent in golden-set evaluation runs",
                            value=done["total"].total_seconds() if done["total"] else 0.0)
