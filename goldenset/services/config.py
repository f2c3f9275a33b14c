"""Evaluation configuration per deployment and its schedule."""

from __future__ import annotations

import json
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from drift_app.models import Deployment

from ..models import (
    EvalConfig,
    GoldenItem,
    GoldenItemEvent,
)

logger = logging.getLogger(__name__)

Status = GoldenItem.Status
Action = GoldenItemEvent.Action



# --- evaluation config and schedule ----------------------------------------------------------------

EVAL_CONFIG_FIELDS = ("endpoint_base_url", "endpoint_model", "api_key_env", "timeout_s", "max_retries", "concurrency",
                      "similarity_threshold", "alignment_threshold", "combination_rule", "judge_enabled", "judge_model",
                      "judge_min_kappa", "schedule_cron")


def eval_config_get(*, deployment: Deployment) -> EvalConfig:
    config = EvalConfig.objects.filter(deployment=deployment).first()
    return config or EvalConfig(deployment=deployment)


@transaction.atomic
def eval_config_update(*, deployment: Deployment, **fields) -> EvalConfig:
    unknown = set(fields) - set(EVAL_CONFIG_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "unknown field"})
    config = EvalConfig.objects.select_for_update().filter(deployment=deployment).first() or EvalConfig(deployment=deployment)
    for name, value in fields.items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    eval_schedule_sync(config=config)
    return config


def eval_schedule_sync(*, config: EvalConfig):
    """Create, update or remove the deployment's django-celery-beat PeriodicTask from its cron."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    name = f"Golden-set evaluation: {config.deployment.slug}"
    if not (config.schedule_cron and config.has_endpoint):
        PeriodicTask.objects.filter(name=name).delete()
        return None
    minute, hour, dom, month, dow = config.schedule_cron.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow,
        timezone=timezone.get_current_timezone_name(),
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={"task": "goldenset.tasks.eval_scheduled_task", "crontab": crontab, "interval": None,
                  "args": json.dumps([config.deployment_id]), "enabled": True, "queue": "default"},
    )
    return task
