"""Retention never removes evidence: flagged samples, golden-item sources, the active baseline."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from drift_app import services
from drift_app.models import ProductionSample
from feedback.services import flag_create
from goldenset.services import golden_item_create
from tests import factories

pytestmark = pytest.mark.django_db


def test_purging_old_samples_keeps_flagged_and_golden_source_samples(personas):
    deployment = factories.deployment()
    old = timezone.now() - dt.timedelta(days=400)
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"o{i}", prompt=f"old prompt {i}", response="old answer",
                         model_version="v1", client_timestamp=old)
        for i in range(10)
    ] + [
        ProductionSample(deployment=deployment, external_id="fresh", prompt="new prompt", response="new answer",
                         model_version="v1", client_timestamp=timezone.now())
    ])
    flagged, golden_source = rows[0], rows[1]
    flag_create(sample=flagged, user=personas.alice, reason="incorrect", comment="wrong price")
    golden_item_create(author=personas.bob, prompt="old prompt 1", reference_answer="the right answer",
                       category="billing", reason="from production", source="authored", source_sample=golden_source)

    call_command("purge_samples", deployment.slug, "--older-than-days", "365")

    left = set(ProductionSample.objects.filter(deployment=deployment).values_list("external_id", flat=True))
    assert left == {"o0", "o1", "fresh"}


def test_purging_keeps_the_active_baselines_samples():
    deployment = factories.deployment()
    old = timezone.now() - dt.timedelta(days=400)
    rows = ProductionSample.objects.bulk_create([
        ProductionSample(deployment=deployment, external_id=f"b{i}", prompt=f"p{i}", response="r",
                         model_version="v1", client_timestamp=old + dt.timedelta(minutes=i))
        for i in range(300)
    ])
    ids = np.array([r.id for r in rows])
    v = np.random.default_rng(0).standard_normal((300, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    services.samples_store_vectors(ids=ids, prompt_vectors=v, response_vectors=v)
    baseline = services.baseline_create(deployment=deployment, period_start=old, period_end=old + dt.timedelta(days=1),
                                        enqueue=False)
    services.baseline_fit(baseline=baseline)
    assert services.samples_purge(deployment=deployment, before=timezone.now()) == 0
    assert ProductionSample.objects.filter(deployment=deployment).count() == 300
