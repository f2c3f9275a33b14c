import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError

from drift_app.models import Deployment

from . import services
from .models import EvalRun


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5, acks_late=True)
def eval_run_execute_task(run_id: int) -> None:
    services.eval_run_execute(run=EvalRun.objects.get(id=run_id))


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def eval_scheduled_task(deployment_id: int) -> None:
    services.eval_scheduled(deployment=Deployment.objects.get(id=deployment_id))


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def reap_stuck_eval_runs_task() -> dict:
    result = services.eval_runs_reap()
    return {"requeued": len(result.requeued), "failed": len(result.failed)}


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def coverage_gaps_task(deployment_id: int, window_start: str) -> None:
    services.coverage_gaps_refresh(deployment=Deployment.objects.get(pk=deployment_id),
                                   window_start=dt.datetime.fromisoformat(window_start))


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def golden_items_reembed_task() -> int:
    """Periodic (beat): golden items embedded by another encoder get the current one's vectors; while more
    remain than one run takes, the task queues itself again at once instead of waiting for the next beat."""
    cap = 5_000
    done = services.golden_items_reembed(cap=cap)
    if done >= cap:
        golden_items_reembed_task.delay()
    return done
