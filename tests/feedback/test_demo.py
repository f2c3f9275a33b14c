"""feedback.demo.load_demo: flags across the weeks, SME labels with one adjudicated disagreement, one promotion."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from demo import feedback as demo
from feedback import selectors
from feedback.models import Adjudication, Flag, Label, Promotion
from goldenset.models import GoldenItem

from .conftest import make_samples

pytestmark = pytest.mark.django_db

V3_WRONG = "Data is not encrypted at rest on shared plans; access logs are kept for 7 days."
V1_RIGHT = "Yes: data is encrypted at rest with AES-256 and in transit with TLS 1.3."


@pytest.fixture
def weeks(deployment):
    end = timezone.now().replace(microsecond=0)
    start = end - dt.timedelta(weeks=8)
    make_samples(deployment, 7 * 40, start=start, step=dt.timedelta(hours=4.2), prefix="old",
                 responses=[V1_RIGHT] * 280)
    make_samples(deployment, 60, start=end - dt.timedelta(days=7), step=dt.timedelta(hours=2.7), prefix="v3",
                 responses=[V3_WRONG] * 60, model_version="v3")
    return start, end


def test_the_demo_flags_labels_adjudicates_and_promotes_in_seconds(personas, deployment, weeks):
    from drift_app import embeddings

    start, end = weeks
    # The encoder loads once per process (seconds on a small machine); the demo's own work is what is timed.
    embeddings.get_model()
    began = time.monotonic()
    demo.load_demo(deployment=deployment, users={"power_user": [personas.alice], "sme": [personas.bob, personas.carol]},
                   start=start, end=end)
    assert time.monotonic() - began < 10
    flags = Flag.objects.filter(deployment=deployment)
    last_week = flags.filter(sample__client_timestamp__gte=end - dt.timedelta(days=7)).count()
    assert last_week > flags.count() - last_week  # more flags where v3 answers wrongly
    assert all(start <= f.created_at <= end for f in flags)
    assert flags.filter(status="open").exists()  # something left for the triage queue
    multiply = [f for f in flags if f.labels.count() >= 2]
    assert len(multiply) >= 3
    assert Adjudication.objects.filter(flag__deployment=deployment).count() == 1
    promotion = Promotion.objects.get()
    item = GoldenItem.objects.get()
    assert (promotion.golden_item, item.source, item.status) == (item, "flag", "draft")
    assert item.source_sample == promotion.flag.sample
    report = selectors.agreement_report(deployment=deployment)
    assert report.n_flags == len(multiply) and report.disagreements == 1 and report.adjudicated == 1
    m = selectors.feedback_metrics(deployment=deployment, start=end - dt.timedelta(days=7), end=end)
    assert m.confirmed_bad_rate.count > 0


def test_the_demo_flags_only_with_power_users_and_tolerates_missing_smes(personas, deployment, weeks):
    start, end = weeks
    demo.load_demo(deployment=deployment, users={"power_user": [personas.alice]}, start=start, end=end)
    assert Flag.objects.filter(deployment=deployment).exists()
    assert not Label.objects.exists()
    demo.load_demo(deployment=deployment, users={}, start=start, end=end)  # no power users: nothing to do
