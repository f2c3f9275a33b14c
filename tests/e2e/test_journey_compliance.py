"""The compliance officer's journey, only clicking after sign-in (issue 18, Deliver 1): home → a degradation's
verdict → its evidence (the evaluation run) → a report she generates, downloads and verifies.

Every page passes check_page (axe-core, no overflow at 800/1400 px, screenshots, load time). No Celery
worker runs here: while the browser watches the job's page, the test thread does the worker's part by
calling the task function (compliance.tasks.report_job_task), and the page's own polling has to notice.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from compliance import tasks
from compliance.models import ComplianceReport, ReportJob
from tests.base import PASSWORD
from tests.e2e.page_checks import check_page
from tests.e2e.test_browser import scenario  # noqa: F401 - the fixture: stable, benign, degraded windows

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_compliance_officer_goes_from_home_to_a_degradations_evidence_and_a_verified_report(
    scenario, live_server, page,  # noqa: F811
):
    slug = scenario["world"].deployment.slug
    page.goto(f"{live_server.url}/login/")
    check_page(page, "compliance-01-sign-in")
    page.fill("input[name=username]", "charlie")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    check_page(page, "compliance-02-home")

    page.click("#material-degradations a")
    page.wait_for_url(re.compile(r".*/verdicts/\d+/$"))
    assert "Genuine degradation" in page.inner_text("main h2")
    assert "Regressed items" in page.inner_text("#src-golden")
    check_page(page, "compliance-03-verdict")

    page.click("#src-golden dl.facts a[href*='/golden/runs/']")
    page.wait_for_url(re.compile(r".*/golden/runs/\d+/$"))
    assert "regressed" in page.inner_text("main")
    check_page(page, "compliance-04-evaluation-run")
    page.go_back()
    page.click("#src-flags a, #src-prompt_drift a[href*='/drift/runs/']")
    check_page(page, "compliance-05-evidence-source")
    page.go_back()

    page.click("header nav >> text=Reports")
    page.wait_for_url(re.compile(r".*/compliance/reports/$"))
    check_page(page, "compliance-06-reports")
    page.select_option("#generate-form select[name=deployment]", slug)
    page.fill("#generate-form input[name=start]", "2026-09-01")
    page.fill("#generate-form input[name=end]", "2026-10-01")
    page.click("#generate-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/compliance/jobs/\d+/$"))
    assert page.locator("#job-state[data-poll] progress").count() == 1
    check_page(page, "compliance-07-report-queued")
    tasks.report_job_task(ReportJob.objects.get(kind="generate").pk)  # the worker's part
    page.wait_for_selector("#job-state:not([data-poll]) >> text=generated", timeout=20_000)
    check_page(page, "compliance-08-report-generated")
    report = ComplianceReport.objects.get(deployment__slug=slug)

    with page.expect_download() as info:
        page.click("#job-state >> text=CSV")
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert rows and set(rows[0]) >= {"section", "window_start", "statistic", "value", "threshold"}

    page.click(f"text=Open report #{report.pk}")
    page.wait_for_url(re.compile(rf".*/compliance/reports/{report.pk}/$"))
    check_page(page, "compliance-09-report")
    page.click("text=Verify against the database")
    page.wait_for_url(re.compile(r".*/compliance/jobs/\d+/$"))
    check_page(page, "compliance-10-verification-queued")
    tasks.report_job_task(ReportJob.objects.get(kind="verify").pk)  # the worker's part
    page.wait_for_selector(f"#job-state:not([data-poll]) >> text=Verified: report #{report.pk} is intact", timeout=20_000)
    check_page(page, "compliance-11-report-verified")
