"""verdicts.demo.load_demo: stable → benign change → genuine degradation with one code red."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from demo import verdicts as demo
from demo.generator import DemoTimeline
from tests.verdicts.helpers import T0
from verdicts.models import Alert, RetrainingAdvice

pytestmark = pytest.mark.django_db

TOPIC = {"size": 170, "share": 0.34, "keywords": ["nimbus", "functions", "deploy"],
         "representative_texts": ["How do I deploy a Nimbus Function written in Go?"], "sample_ids": []}


def test_the_demo_timeline_goes_stable_benign_then_genuine_with_one_code_red(world, personas, django_capture_on_commit_callbacks, eager_celery):
    timeline = DemoTimeline(start=T0 - dt.timedelta(weeks=3))  # week 4 is the helpers' window 0
    world.golden(pass_rate=0.95, at=timeline.versions["v1"], model_version="v1")
    world.golden(pass_rate=0.94, at=timeline.versions["v2"], model_version="v2")
    world.golden(pass_rate=0.62, at=timeline.versions["v3"], model_version="v3", regressed=8)
    world.drift(0)
    world.drift(1, prompts=True, novel=0.2, topics=[TOPIC])
    world.drift(2, prompts=True, novel=0.35, topics=[TOPIC])
    world.drift(3, prompts=True, responses=True, novel=0.35, topics=[TOPIC])
    world.drift(4, prompts=True, responses=True, novel=0.35, topics=[TOPIC])
    with django_capture_on_commit_callbacks(execute=True):
        verdicts = demo.load_demo(deployment=world.deployment, users={}, timeline=timeline)
        demo.load_demo(deployment=world.deployment, users={}, timeline=timeline)  # loading twice changes nothing
    assert [v.verdict_class for v in verdicts] == [
        "stable", "benign_change", "benign_change", "benign_change", "genuine_degradation"
    ]
    assert verdicts[-1].material_degradation and "mostly in billing" in verdicts[-1].explanation
    alert = Alert.objects.get(deployment=world.deployment)
    assert alert.tier == "code_red" and alert.opened_by_verdict == verdicts[-1]
    assert len(mail.outbox) == 1
    assert RetrainingAdvice.objects.filter(verdict__in=verdicts[2:4]).count() == 2
    demo.clear_demo(deployment=world.deployment)
    assert not Alert.objects.exists()
