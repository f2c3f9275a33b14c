"""Report generation and verification as background jobs with progress (issue 18, item 6)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from compliance import selectors, services, tasks
from compliance.models import ComplianceReport, ReportJob
from tests import factories
from tests.base import join_team

from .conftest import END, START

pytestmark = pytest.mark.django_db


def test_the_figures_report_progress_once_per_section_in_order(scenario):
    seen = []
    selectors.report_figures(deployment=scenario.deployment, start=START, end=END,
                             progress=lambda fraction, step: seen.append((fraction, step)))
    fractions = [f for f, _ in seen]
    assert len(seen) == len(selectors.sections.sections()) and fractions == sorted(fractions)
    assert fractions[0] == 0 and fractions[-1] < 1 and all(step.startswith("Computing") for _, step in seen)


def test_a_generation_job_runs_to_done_and_keeps_its_report(scenario, personas):
    job = services.report_job_start(kind="generate", deployment=scenario.deployment, start=START, end=END,
                                    user=personas.charlie)
    assert (job.status, job.progress) == ("queued", 0.0)
    tasks.report_job_task(job.pk)
    job.refresh_from_db()
    assert (job.status, job.progress, job.step) == ("done", 1.0, "")
    assert job.report == ComplianceReport.objects.get() and job.report.generated_by_username == "charlie"


def test_a_verification_job_stores_the_outcome(scenario, personas):
    report = services.report_generate(deployment=scenario.deployment, start=START, end=END, user=personas.charlie)
    job = services.report_job_start(kind="verify", report=report, user=personas.charlie)
    tasks.report_job_task(job.pk)
    job.refresh_from_db()
    assert job.status == "done" and job.result["ok"] is True and job.result["figures_match"] is True


def test_a_job_that_fails_says_why_instead_of_polling_forever(scenario, personas, monkeypatch):
    job = services.report_job_start(kind="generate", deployment=scenario.deployment, start=START, end=END,
                                    user=personas.charlie)

    def broken(figures, **kwargs):
        raise RuntimeError("pango is missing")

    monkeypatch.setattr(services.render, "pdf", broken)
    with pytest.raises(RuntimeError):
        tasks.report_job_task(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "pango is missing" in job.error and not job.working


def test_a_job_of_another_teams_deployment_is_not_found(scenario, personas, client):
    job = services.report_job_start(kind="generate", deployment=scenario.deployment, start=START, end=END,
                                    user=personas.charlie)
    outsider = User.objects.create_user("zoe")
    join_team(outsider, "compliance", factories.team())
    client.force_login(outsider)
    assert client.get(f"/compliance/jobs/{job.pk}/").status_code == 404
    assert ReportJob.objects.count() == 1
