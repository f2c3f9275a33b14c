"""Deployments: creation with their drift schedule."""

from __future__ import annotations

from ..models import Deployment
from .drift import drift_schedule_sync


def deployment_create(*, name: str, slug: str, current_model_version: str, **thresholds) -> Deployment:
    deployment = Deployment(name=name, slug=slug, current_model_version=current_model_version, **thresholds)
    deployment.full_clean()
    deployment.save()
    drift_schedule_sync(deployment=deployment)
    return deployment
