from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from drift_app.models import Deployment

_seq = itertools.count(1)


def deployment(**kwargs) -> Deployment:
    n = next(_seq)
    fields = {"name": f"Support bot {n}", "slug": f"support-bot-{n}", "current_model_version": "v1"}
    fields.update(kwargs)
    return Deployment.objects.create(**fields)


def sample_record(i: int, *, prompt: str | None = None, when: dt.datetime | None = None, **extra) -> dict:
    when = when or timezone.now()
    rec = {
        "external_id": f"ext-{i}",
        "prompt": prompt if prompt is not None else f"How do I rotate the API key for project {i}?",
        "response": f"Open Settings → API keys for project {i} and click Rotate.",
        "timestamp": when.isoformat(),
        "metadata": {"user_tier": "pro"},
    }
    rec.update(extra)
    return rec


def team(**kwargs):
    """A team other than the default one (the personas' team)."""
    from drift_app.models import Team

    n = next(_seq)
    fields = {"name": f"Team {n}", "slug": f"team-{n}"}
    fields.update(kwargs)
    return Team.objects.create(**fields)


def sample(deployment: Deployment, *, prompt: str = "What is our internal discount code?",
           response: str = "It is STAFF-ONLY-42."):
    from drift_app.models import ProductionSample

    n = next(_seq)
    return ProductionSample.objects.create(deployment=deployment, external_id=f"s-{n}", prompt=prompt,
                                           response=response, model_version="v1", client_timestamp=timezone.now())
