"""Prometheus metrics of this layer, read at scrape time (drift_app.ops.register_collector)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric


def collect() -> Iterable[Metric]:
    from django.db.models import Count

    from .models import Alert, Verdict, VerdictClass

    verdicts = GaugeMetricFamily("driftdesk_verdicts", "Verdicts by class", labels=["verdict_class"])
    counts = dict(Verdict.objects.values_list("verdict_class").annotate(n=Count("id")))
    for value in VerdictClass.values:
        verdicts.add_metric([value], counts.get(value, 0))
    yield verdicts
    alerts = GaugeMetricFamily("driftdesk_open_alerts", "Open (unresolved) alerts by tier", labels=["tier"])
    counts = dict(
        Alert.objects.exclude(status=Alert.Status.RESOLVED).values_list("tier").annotate(n=Count("id"))
    )
    for value in Alert.Tier.values:
        alerts.add_metric([value], counts.get(value, 0))
    yield alerts
