from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


@shared_task(
    autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5, acks_late=True,
)
def embed_samples_task(sample_ids: list[int]) -> int:
    return services.samples_embed(sample_ids=sample_ids)


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def backfill_embeddings_task() -> int:
    return services.embeddings_backfill()


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def baseline_fit_task(baseline_id: int) -> None:
    from .models import Baseline

    services.baseline_fit(baseline=Baseline.objects.get(id=baseline_id))


# A window with samples still waiting for vectors is retried this often, this far apart (the
# backfill embeds stragglers meanwhile); after that the run stays `incomplete` with its count.
INCOMPLETE_RETRIES = 10
INCOMPLETE_RETRY_SECONDS = 120


@shared_task(bind=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def drift_run_compute_task(self, run_id: int) -> None:
    from .models import DriftRun

    run = services.drift_run_compute(run=DriftRun.objects.get(id=run_id))
    if run.status == DriftRun.Status.INCOMPLETE and self.request.retries < INCOMPLETE_RETRIES:
        raise self.retry(countdown=INCOMPLETE_RETRY_SECONDS, max_retries=INCOMPLETE_RETRIES)


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def drift_window_task(deployment_id: int) -> int:
    from .models import Deployment

    return len(services.drift_window_scheduled(deployment=Deployment.objects.get(id=deployment_id)))


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def sample_partitions_maintain_task() -> dict:
    return services.sample_partitions_maintain()


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def reap_stuck_runs_task() -> dict:
    result = services.runs_reap()
    return {"requeued": len(result.requeued), "failed": len(result.failed), "baselines": len(result.baselines)}


# Metrics out (drift_app/metric_sinks.py): a few retries with backoff, then the export is given up and logged
# as a failed task. The run it describes finished before this was queued and is never touched.
@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=4, acks_late=True)
def metrics_export_task(sink: str, kind: str, object_id: int) -> str:
    from . import metric_sinks

    return metric_sinks.export(sink=sink, kind=kind, object_id=object_id).key
