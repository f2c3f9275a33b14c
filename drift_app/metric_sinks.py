"""Metrics out: drift runs, evaluation runs and verdicts logged to MLflow and Weights & Biases.

Two registries, so that higher layers plug in without this layer importing them:
- SINKS: where metrics go (MLflow, W&B), each optional and off by default (settings below);
- SOURCES: how a finished object becomes a MetricRecord, by kind ("drift_run" here; "eval_run" registered by
  goldenset, "verdict" by verdicts, in their AppConfig.ready).

A finished run calls `queue_export(kind=..., object_id=...)`: when no sink is enabled it does nothing; otherwise
one Celery task per sink is queued after the transaction commits (robust: a broker outage loses the export,
never the run). The task retries with backoff and then gives up; it never touches the run, so an unreachable
tracking server can neither block nor fail a drift run, an evaluation or a verdict, and the compliance report
reads only Driftdesk's own tables. Exports are idempotent per sink: MLflow runs carry the tag driftdesk.key and a
retry finds the run it already made; W&B runs use the key as their run id.
"""

from __future__ import annotations

import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricRecord:
    kind: str  # "drift_run", "eval_run", "verdict"
    object_id: int
    deployment: str  # slug
    run_name: str
    metrics: dict[str, float]
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.object_id}"

    def finite_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.metrics.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class MetricSink(ABC):
    name: str

    @abstractmethod
    def enabled(self) -> bool:
        """Whether settings turn this sink on."""

    @abstractmethod
    def log(self, record: MetricRecord) -> None:
        """Send one record; raise on failure (the task retries)."""


SINKS: dict[str, MetricSink] = {}
SOURCES: dict[str, Callable[[int], MetricRecord]] = {}


def register_sink(sink: MetricSink) -> MetricSink:
    SINKS[sink.name] = sink
    return sink


def register_source(kind: str, build: Callable[[int], MetricRecord]) -> None:
    SOURCES[kind] = build


def enabled_sinks() -> list[MetricSink]:
    return [s for s in SINKS.values() if s.enabled()]


def queue_export(*, kind: str, object_id: int) -> int:
    """Queue the export of one finished object to every enabled sink, after commit. Returns how many."""
    sinks = enabled_sinks()
    if not sinks or kind not in SOURCES:
        return 0
    from .tasks import metrics_export_task

    for sink in sinks:
        transaction.on_commit(lambda name=sink.name: metrics_export_task.delay(name, kind, object_id), robust=True)
    return len(sinks)


def export(*, sink: str, kind: str, object_id: int) -> MetricRecord:
    """Build the record of one object and send it to one sink (the Celery task's body)."""
    record = SOURCES[kind](object_id)
    SINKS[sink].log(record)
    return record


_PARAM_SAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


class MlflowSink(MetricSink):
    """DRIFTDESK_MLFLOW_TRACKING_URI (off when empty): a tracking server (through the outbound allowlist) or a
    local store (`file:` URI); runs go to the experiment DRIFTDESK_MLFLOW_EXPERIMENT."""

    name = "mlflow"

    def enabled(self) -> bool:
        return bool(getattr(settings, "DRIFTDESK_MLFLOW_TRACKING_URI", ""))

    def log(self, record: MetricRecord) -> None:
        uri = settings.DRIFTDESK_MLFLOW_TRACKING_URI
        if uri.startswith(("http://", "https://")):
            from .outbound import check_url

            check_url(uri)
        elif uri.startswith("file:"):
            import os

            # MLflow 3 keeps the file store in maintenance mode behind this switch; an operator who set a
            # file: URI chose it (mlflow-skinny has no SQLAlchemy for a sqlite: store).
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        name = settings.DRIFTDESK_MLFLOW_EXPERIMENT
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        found = client.search_runs([experiment_id], filter_string=f"tags.`driftdesk.key` = '{record.key}'",
                                   max_results=1)
        if found:
            return  # a retry after a run already logged: nothing twice
        tags = {"driftdesk.key": record.key, "driftdesk.kind": record.kind, "driftdesk.deployment": record.deployment,
                **record.tags}
        run = client.create_run(experiment_id, run_name=record.run_name, tags=tags)
        try:
            import time

            now = int(time.time() * 1000)
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(_PARAM_SAFE.sub("_", k), v, now, 0) for k, v in record.finite_metrics().items()],
                params=[Param(_PARAM_SAFE.sub("_", k), str(v)[:6000]) for k, v in record.params.items()],
                tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()],
            )
            client.set_terminated(run.info.run_id)
        except Exception:
            client.delete_run(run.info.run_id)  # a retry makes it again, whole
            raise


class WandbSink(MetricSink):
    """DRIFTDESK_WANDB_MODE: "" (off), "offline" (files under DRIFTDESK_WANDB_DIR, synced later with `wandb
    sync`) or "online"; runs go to the project DRIFTDESK_WANDB_PROJECT."""

    name = "wandb"

    def enabled(self) -> bool:
        return getattr(settings, "DRIFTDESK_WANDB_MODE", "") in ("offline", "online")

    def log(self, record: MetricRecord) -> None:
        import os

        import wandb

        if settings.DRIFTDESK_WANDB_MODE == "online":
            from .outbound import check_url

            check_url(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"), field="WANDB_BASE_URL")

        run = wandb.init(
            mode=settings.DRIFTDESK_WANDB_MODE, project=settings.DRIFTDESK_WANDB_PROJECT,
            dir=settings.DRIFTDESK_WANDB_DIR or None, id=f"{record.deployment}-{record.key}", resume="allow",
            name=record.run_name, job_type=record.kind, group=record.deployment,
            config={**record.params, "deployment": record.deployment}, tags=[record.kind],
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
            reinit="create_new",
        )
        try:
            run.log(record.finite_metrics())
            run.summary.update({**record.finite_metrics(), "driftdesk_key": record.key})
        finally:
            run.finish()


register_sink(MlflowSink())
register_sink(WandbSink())


def _drift_run_record(run_id: int) -> MetricRecord:
    from .models import DriftRun

    run = DriftRun.objects.select_related("deployment").get(id=run_id)
    metrics = {"drifted": 1.0 if run.drifted else 0.0, "js": run.js, "js_threshold": run.js_threshold,
               "wasserstein": run.wasserstein, "mmd_p_value": run.mmd_p_value, "novel_share": run.novel_share,
               "evaluated_count": run.evaluated_count, "duration_seconds": run.duration_seconds}
    if run.drifted is None:
        metrics.pop("drifted")
    return MetricRecord(
        kind="drift_run", object_id=run.id, deployment=run.deployment.slug,
        run_name=f"drift {run.target} {run.window_start:%Y-%m-%d %H:%M}",
        metrics={k: v for k, v in metrics.items() if v is not None},
        params={"target": run.target, "window_start": run.window_start.isoformat(),
                "window_end": run.window_end.isoformat(), "status": run.status},
    )


register_source("drift_run", _drift_run_record)
