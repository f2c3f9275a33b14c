"""Fixtures for the feedback tests: a deployment with samples, flags made through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from drift_app import services as drift_services
from drift_app.models import ProductionSample
from drift_app.validation import SampleIn
from feedback import services
from tests import factories


def make_samples(deployment, n: int, *, start: dt.datetime | None = None, step=dt.timedelta(hours=1),
                 prefix: str = "s", responses: list[str] | None = None, prompts: list[str] | None = None,
                 model_version: str = "v1") -> list[ProductionSample]:
    start = start or timezone.now() - dt.timedelta(days=1)
    records = [
        SampleIn(
            external_id=f"{prefix}-{i}",
            prompt=prompts[i] if prompts else f"How do I rotate the API key for project {i}?",
            response=responses[i] if responses else f"Open Settings → API keys for project {i} and click Rotate.",
            model_version=model_version,
            client_timestamp=start + i * step,
        )
        for i in range(n)
    ]
    result = drift_services.samples_ingest(deployment=deployment, records=records)
    by_id = {s.pk: s for s in ProductionSample.objects.filter(pk__in=[r.id for r in result.samples])}
    return [by_id[r.id] for r in result.samples]


@pytest.fixture
def deployment(db):
    return factories.deployment()


@pytest.fixture
def samples(deployment):
    return make_samples(deployment, 5)


@pytest.fixture
def flag(personas, samples):
    return services.flag_create(sample=samples[0], user=personas.alice, reason="incorrect", comment="Wrong menu.")
