"""Agreement over multiply-labelled flags: per SME pair, per reason, on the page and in the API."""

from __future__ import annotations

import pytest

from drift_app.stats.agreement import cohen_kappa
from feedback import selectors, services
from feedback.models import DeploymentFeedbackSettings

from .conftest import make_samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(personas, deployment):
    """Six flags labelled by bob and carol; they disagree on two."""
    DeploymentFeedbackSettings.objects.create(deployment=deployment, overlap=2)
    samples = make_samples(deployment, 6, prefix="agr")
    bob_labels = ["confirmed_bad", "confirmed_bad", "not_a_problem", "outdated_knowledge", "not_a_problem", "confirmed_bad"]
    carol_labels = ["confirmed_bad", "not_a_problem", "not_a_problem", "outdated_knowledge", "confirmed_bad", "confirmed_bad"]
    reasons = ["incorrect", "incorrect", "unhelpful", "outdated", "unhelpful", "harmful"]
    flags = []
    for sample, b, c, reason in zip(samples, bob_labels, carol_labels, reasons):
        flag = services.flag_create(sample=sample, user=personas.alice, reason=reason)
        for sme, label in [(personas.bob, b), (personas.carol, c)]:
            services.flag_claim(flag=flag, user=sme)
            services.flag_label(flag=flag, user=sme, label=label)
        flags.append(flag)
    return bob_labels, carol_labels, flags


def test_the_report_gives_kappa_for_the_pair_and_alpha_overall_and_per_reason(labelled, deployment):
    bob_labels, carol_labels, _ = labelled
    report = selectors.agreement_report(deployment=deployment)
    assert report.n_flags == 6 and report.disagreements == 2 and report.adjudicated == 0
    (pair,) = report.pairs
    assert (pair.sme_a, pair.sme_b, pair.n_items) == ("bob", "carol", 6)
    assert pair.kappa == pytest.approx(cohen_kappa(bob_labels, carol_labels).kappa)
    assert pair.observed == pytest.approx(4 / 6)
    by_reason = {g.group: g for g in report.by_reason}
    assert set(by_reason) == {"Incorrect", "Unhelpful", "Outdated", "Harmful"}
    assert by_reason["Incorrect"].n_flags == 2
    assert 0 < report.overall_alpha < 1


def test_disagreeing_flags_wait_for_adjudication(labelled):
    _, _, flags = labelled
    statuses = [f.__class__.objects.get(pk=f.pk).status for f in flags]
    assert statuses == ["resolved", "adjudication", "resolved", "resolved", "adjudication", "resolved"]


def test_singly_labelled_flags_do_not_count_towards_agreement(personas, deployment):
    sample = make_samples(deployment, 1, prefix="single")[0]
    flag = services.flag_create(sample=sample, user=personas.alice, reason="incorrect")
    services.flag_claim(flag=flag, user=personas.bob)
    services.flag_label(flag=flag, user=personas.bob, label="confirmed_bad")
    report = selectors.agreement_report(deployment=deployment)
    assert report.n_flags == 0 and report.pairs == []


def test_the_agreement_page_and_api_show_the_figures(client, personas, labelled):
    client.force_login(personas.charlie)
    page = client.get("/feedback/agreement/").content.decode()
    assert "Cohen's kappa per SME pair" in page and "bob · carol" in page
    body = personas.api("charlie").get("/api/v1/feedback/agreement").json()
    assert body["flags"] == 6 and body["disagreements"] == 2
    assert body["pairs"][0]["items"] == 6 and body["pairs"][0]["kappa"] is not None
    assert personas.api("alice").get("/api/v1/feedback/agreement").status_code == 403
