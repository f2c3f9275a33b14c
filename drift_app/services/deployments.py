"""Deployments: creation with their drift schedule, and threshold changes (both audited: Deployment is tracked)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Deployment, Team
from .drift import drift_schedule_sync

# What a team admin or ML engineer may change after creation (PATCH): the drift window and thresholds.
DEPLOYMENT_SETTINGS = (
    "name", "description", "current_model_version", "drift_window", "drift_false_alarm_rate", "min_window_samples",
    "novel_share_alert", "code_red_drop_pct", "review_drop_pct", "material_drop_pct", "quality_drift_pct",
)


def deployment_create(*, name: str, slug: str, current_model_version: str, team: Team | None = None,
                      **thresholds) -> Deployment:
    unknown = set(thresholds) - set(DEPLOYMENT_SETTINGS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "unknown field"})
    deployment = Deployment(name=name, slug=slug, current_model_version=current_model_version, **thresholds)
    if team is not None:
        deployment.team = team
    deployment.full_clean()
    deployment.save()
    drift_schedule_sync(deployment=deployment)
    return deployment


@transaction.atomic
def deployment_update(*, deployment: Deployment, **fields) -> Deployment:
    """Change a deployment's settings (validated as a whole: e.g. review_drop_pct <= code_red_drop_pct)."""
    unknown = set(fields) - set(DEPLOYMENT_SETTINGS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "unknown field (or not changeable)"})
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    for name, value in fields.items():
        setattr(deployment, name, value)
    deployment.full_clean()
    deployment.save()
    if "drift_window" in fields:
        drift_schedule_sync(deployment=deployment)
    return deployment
