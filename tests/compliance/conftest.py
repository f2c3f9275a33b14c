"""A month of monitoring history for one deployment, built from rows with known figures.

Golden-set runs are stored directly (the scorer's maths is tested in tests/goldenset): baseline v1 at
80% accuracy, v2 at 76% (5% below, not material), v3 at 62% (22.5% below: material degradation).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from drift_app.models import Baseline, DriftRun
from tests import factories

UTC = dt.timezone.utc
START = dt.datetime(2026, 3, 1, tzinfo=UTC)
END = dt.datetime(2026, 4, 1, tzinfo=UTC)


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


@dataclass
class Scenario:
    deployment: object
    baseline_run: object
    v2_run: object
    v3_run: object
    alert: object
    start: dt.datetime = START
    end: dt.datetime = END


def make_samples(deployment, n: int, *, start: dt.datetime, step: dt.timedelta, version: str, prefix: str):
    from drift_app import services as drift_services
    from drift_app.validation import SampleIn

    records = [
        SampleIn(external_id=f"{prefix}-{i}", prompt=f"How do I rotate key {i}?", response=f"Rotate key {i} in Settings.",
                 model_version=version, client_timestamp=start + i * step)
        for i in range(n)
    ]
    return drift_services.samples_ingest(deployment=deployment, records=records)


@pytest.fixture
def scenario(personas) -> Scenario:
    from django.contrib.auth.models import User

    from feedback import services as feedback_services
    from feedback.models import Flag
    from goldenset.models import EvalRun, GoldenSetVersion
    from verdicts import services as verdict_services
    from verdicts.models import Alert, RetrainingAdvice, Verdict

    deployment = factories.deployment(name="Acme support bot", slug="acme-support", current_model_version="v3")
    make_samples(deployment, 40, start=at(1), step=dt.timedelta(hours=6), version="v2", prefix="a")
    make_samples(deployment, 30, start=at(15), step=dt.timedelta(hours=8), version="v3", prefix="b")
    make_samples(deployment, 5, start=dt.datetime(2026, 2, 20, tzinfo=UTC), step=dt.timedelta(hours=1), version="v1", prefix="old")

    version = GoldenSetVersion.objects.create(number=1, content_hash="a" * 64, item_count=50, reason="first",
                                              created_by=personas.bob)

    def run(model: str, rate: float, when: dt.datetime, *, baseline=None, drop=None, regressed=0):
        return EvalRun.objects.create(
            deployment=deployment, model_version=model, golden_version=version, status="succeeded",
            answer_source="uploaded", similarity_threshold=0.8, item_count=50, passed_count=round(rate * 50),
            failed_count=50 - round(rate * 50), pass_rate=rate, is_baseline=baseline is None, baseline_run=baseline,
            relative_drop_pct=drop, regressed_count=regressed, created_at=when, started_at=when, finished_at=when,
        )

    base = run("v1", 0.80, dt.datetime(2026, 2, 10, tzinfo=UTC))
    v2 = run("v2", 0.76, at(3), baseline=base, drop=5.0, regressed=2)
    v3 = run("v3", 0.62, at(16), baseline=base, drop=22.5, regressed=9)

    drift_baseline = Baseline.objects.create(deployment=deployment, period_start=dt.datetime(2026, 2, 1, tzinfo=UTC),
                                             period_end=dt.datetime(2026, 3, 1, tzinfo=UTC), sample_count=500,
                                             status="fitted", is_active=True)
    verdicts = []
    for week in range(4):
        w_start = START + dt.timedelta(weeks=week)
        w_end = w_start + dt.timedelta(weeks=1)
        for target, js in (("prompts", 0.02 + 0.03 * week), ("responses", 0.01 + 0.02 * week)):
            DriftRun.objects.create(
                deployment=deployment, baseline=drift_baseline, window_start=w_start, window_end=w_end, target=target,
                status="completed", sample_count=20, evaluated_count=20, drifted=js > 0.06, js=js, js_threshold=0.06,
                wasserstein=0.1 * (week + 1), mmd_p_value=0.5 / (week + 1), novel_share=0.05 * week,
                results={"wasserstein": {"threshold": 0.3}},
            )
        material = week >= 2
        verdicts.append(Verdict.objects.create(
            deployment=deployment, window_start=w_start, window_end=w_end,
            verdict_class="genuine_degradation" if material else "benign_change" if week == 1 else "stable",
            explanation=f"Week {week + 1} explanation.", golden_pass_rate=0.62 if material else 0.76,
            baseline_pass_rate=0.80, relative_drop_pct=22.5 if material else 5.0, material_degradation=material,
            prompt_drift=week >= 2, response_drift=week >= 3,
        ))
    RetrainingAdvice.objects.create(deployment=deployment, verdict=verdicts[1], reason="New topics: nimbus functions.",
                                    topics=[{"keywords": ["nimbus", "functions"], "size": 12, "share": 0.31,
                                             "sample_ids": [1, 2]}], created_at=at(15))
    alert = Alert.objects.create(deployment=deployment, signal="golden_pass_rate", tier="code_red",
                                 title="Golden pass rate 22.5% below baseline", opened_at=at(16, 13),
                                 opened_by_verdict=verdicts[2])
    verdict_services.alert_acknowledge(alert=alert, user=personas.erin, comment="Rolling back to v2.")
    Alert.objects.filter(pk=alert.pk).update(acknowledged_at=at(16, 15))
    alert.refresh_from_db()

    # Two flags in the period, both labelled by bob and carol (one disagreement, adjudicated).
    from drift_app.models import ProductionSample

    samples = list(ProductionSample.objects.filter(deployment=deployment, external_id__in=["b-1", "b-2"]).order_by("external_id"))
    from feedback.models import DeploymentFeedbackSettings

    DeploymentFeedbackSettings.objects.create(deployment=deployment, overlap=2)
    flags = [feedback_services.flag_create(sample=s, user=personas.alice, reason=r, comment="")
             for s, r in zip(samples, ["incorrect", "outdated"])]
    Flag.objects.filter(pk__in=[f.pk for f in flags]).update(created_at=at(17))
    for flag, (b_label, c_label) in zip(flags, [("confirmed_bad", "confirmed_bad"), ("confirmed_bad", "outdated_knowledge")]):
        for sme, label in ((personas.bob, b_label), (personas.carol, c_label)):
            feedback_services.flag_claim(flag=flag, user=sme, now=at(18))
            feedback_services.flag_label(flag=flag, user=sme, label=label, now=at(18))
    feedback_services.flag_claim(flag=flags[1], user=personas.bob, now=at(19))
    feedback_services.flag_adjudicate(flag=flags[1], user=personas.bob, label="outdated_knowledge",
                                      comment="The docs changed in March.", now=at(19))
    assert User.objects.filter(username="charlie").exists()
    return Scenario(deployment=deployment, baseline_run=base, v2_run=v2, v3_run=v3, alert=alert)
