"""Label-free quality scores in the verdict: a significant drop beyond the band is degradation evidence."""

from __future__ import annotations

import pytest

from drift_app.stats import verdict_rules as rules
from verdicts import services

from .helpers import window

pytestmark = pytest.mark.django_db


def test_a_quality_drop_alone_makes_genuine_degradation_named_as_such():
    result = rules.classify(golden=rules.OK, flags=rules.OK, prompt_drift=False, response_drift=False,
                            quality=rules.DEGRADED)
    assert result.verdict_class == rules.GENUINE_DEGRADATION
    assert result.reasons == ("quality-score drop beyond the band, significantly",)


def test_steady_quality_scores_change_nothing():
    result = rules.classify(golden=rules.OK, flags=rules.OK, prompt_drift=False, response_drift=False,
                            quality=rules.OK)
    assert result.verdict_class == rules.STABLE


def test_the_quality_source_is_registered_and_missing_without_scores(world):
    start, end = window(1)
    assert services.EVIDENCE_SOURCES["quality"] is services.quality_source
    assert services.quality_source(deployment=world.deployment, window_start=start, window_end=end) is None
    verdict = services.verdict_compute(deployment=world.deployment, window_start=start, window_end=end)
    quality = next(e for e in verdict.inputs["evidence"] if e["source"] == "quality")
    assert quality["state"] == rules.MISSING
