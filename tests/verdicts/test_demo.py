"""verdicts.demo.load_demo: stable → benign change → stale evidence → benign change → genuine degradation.

The engine finds each class from the evidence: nothing in the demo's verdict step names an outcome.
"""

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


def test_the_demo_timeline_goes_stable_benign_stale_then_genuine_with_one_code_red(world, personas, django_capture_on_commit_callbacks, eager_celery):
    timeline = DemoTimeline(start=T0 - dt.timedelta(weeks=3))  # week 4 is the helpers' window 0
    world.golden(pass_rate=0.95, at=timeline.versions["v1"], model_version="v1")
    world.golden(pass_rate=0.94, at=timeline.versions["v2"], model_version="v2")
    world.golden(pass_rate=0.62, at=timeline.versions["v3"], model_version="v3")
    for i in range(5):
        world.served(i, timeline.model_version(i + 4))
    world.drift(0)
    world.drift(1, prompts=True, novel=0.2, topics=[TOPIC])
    world.drift(2, prompts=True, novel=0.35, topics=[TOPIC])
    world.drift(3, prompts=True, responses=True, novel=0.35, topics=[TOPIC])
    world.drift(4, prompts=True, responses=True, novel=0.35, topics=[TOPIC])
    with django_capture_on_commit_callbacks(execute=True):
        verdicts = demo.load_demo(deployment=world.deployment, users={}, timeline=timeline)
        demo.load_demo(deployment=world.deployment, users={}, timeline=timeline)  # loading twice changes nothing
    assert [v.verdict_class for v in verdicts] == [
        "stable", "benign_change", "insufficient_evidence", "benign_change", "genuine_degradation"
    ]
    # Week 6 is served by v1, last evaluated 8 days before the week started: stale, so not "stable".
    assert verdicts[2].inputs["golden"]["versions"][0]["reason"] == "stale"
    assert verdicts[-1].material_degradation and "mostly in billing" in verdicts[-1].explanation
    alert = Alert.objects.get(deployment=world.deployment)
    assert alert.tier == "code_red" and alert.opened_by_verdict == verdicts[-1]
    assert alert.window_start == verdicts[-1].window_start
    assert len(mail.outbox) == 1
    assert RetrainingAdvice.objects.filter(verdict__in=verdicts[1:4]).count() == 1
    demo.clear_demo(deployment=world.deployment)
    assert not Alert.objects.exists()
