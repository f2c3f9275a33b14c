"""Degradation reports: the figures come from the database, the PDF states them, regeneration repeats them."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from django.db import DatabaseError, connection, transaction
from pypdf import PdfReader

from compliance import audit, selectors, services
from compliance.models import AppendOnlyError, ComplianceReport
from tests.base import as_owner

from .conftest import END, START, at


def pdf_text(report: ComplianceReport) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(report.pdf))).pages)
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def report(scenario, personas) -> ComplianceReport:
    return services.report_generate(deployment=scenario.deployment, start=START, end=END, user=personas.charlie)


def test_the_pdf_states_material_degradation_with_the_figures_in_the_database(scenario, report):
    v3, base = scenario.v3_run, scenario.baseline_run
    v3.refresh_from_db()
    text = pdf_text(report)
    assert "Material degradation occurred: yes" in text
    # Every number is formatted from the database row, not from a fixture constant.
    assert (f"model {v3.model_version}, golden pass rate {v3.pass_rate * 100:.2f}% vs baseline "
            f"{base.pass_rate * 100:.2f}% (\u2212{v3.relative_drop_pct:.2f}% relative)") in text
    assert f"model {v3.model_version} was {v3.pass_rate * 100:.2f}%" in text
    assert f"{v3.relative_drop_pct:.2f}% below the baseline accuracy of {base.pass_rate * 100:.2f}%" in text
    assert f"more than {scenario.deployment.material_drop_pct:g}% below baseline" in text
    assert v3.finished_at.strftime("%Y-%m-%d") in text
    assert report.material_degradation is True


def test_the_pdf_and_the_report_page_print_the_audit_chain_head_of_its_generation(scenario, report, client, personas):
    from compliance import chain

    assert len(report.audit_chain_head) == 64 and report.audit_chain_head != chain.GENESIS
    # The head is the hash of an event written before the report (not a constant): it is in the trail.
    from compliance.models import AuditEvent

    assert AuditEvent.objects.filter(hash=report.audit_chain_head).exists()
    # A 64-character hash may wrap in the PDF's text; compare without white space.
    assert report.audit_chain_head in re.sub(r"\s+", "", pdf_text(report))
    client.force_login(personas.charlie)
    assert report.audit_chain_head in client.get(f"/compliance/reports/{report.pk}/").content.decode()


def test_the_figures_equal_the_database_rows(scenario, report):
    f = report.figures
    worst = f["material_degradation"]["worst"]
    assert (worst["run_id"], worst["pass_rate"], worst["relative_drop_pct"]) == (
        scenario.v3_run.pk, scenario.v3_run.pass_rate, scenario.v3_run.relative_drop_pct)
    assert [t["model_version"] for t in f["accuracy"]["trend"]] == ["v2", "v3"]
    assert [t["material"] for t in f["accuracy"]["trend"]] == [False, True]
    assert f["system"]["samples"] == scenario.deployment.samples.filter(client_timestamp__gte=START, client_timestamp__lt=END).count()
    assert [(v["model_version"], v["samples"]) for v in f["system"]["model_versions"]] == [("v2", 40), ("v3", 30)]
    assert len(f["drift"]["windows"]) == 4 and f["drift"]["windows_with_prompt_drift"] == 2
    assert f["verdicts"]["counts"] == {"benign_change": 1, "genuine_degradation": 2, "stable": 1}
    assert f["golden_set"]["versions_used"][0]["content_hash"] == "a" * 64


def test_alerts_show_who_acknowledged_them_and_when(scenario, report):
    [alert] = report.figures["alerts"]["items"]
    assert (alert["acknowledged_by"], alert["acknowledged_at"]) == ("erin", "2026-03-16T15:00:00Z")
    assert alert["acknowledged_comment"] == "Rolling back to v2." and alert["status_at_period_end"] == "acknowledged"
    assert "erin, 2026-03-16 15:00 UTC" in pdf_text(report)


def test_feedback_counts_label_outcomes_and_agreement_of_the_period(report):
    fb = report.figures["feedback"]
    assert (fb["flags"], fb["labels"], fb["adjudications"]) == (2, 4, 1)
    assert fb["flags_by_reason"] == {"incorrect": 1, "outdated": 1}
    assert fb["label_outcomes"] == {"confirmed_bad": 3, "outdated_knowledge": 1}
    assert fb["agreement"]["multiply_labelled_flags"] == 2 and fb["agreement"]["disagreements"] == 1
    assert fb["agreement"]["pairs"][0]["sme_a"] == "bob"


def test_retraining_advice_and_threshold_changes_of_the_period_are_listed(scenario, personas):
    deployment = scenario.deployment
    deployment.code_red_drop_pct = 12.0
    with audit.acting_as(personas.erin):
        deployment.save()
    from compliance.models import AuditEvent

    # The edit happened "now"; report the period that contains it.
    event = AuditEvent.objects.filter(object_type="drift_app.Deployment", action="update").latest("id")
    start = event.at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    figures = selectors.report_figures(deployment=deployment, start=start, end=start + dt.timedelta(days=32))
    [change] = [c for c in figures["changes"]["thresholds"] if c["action"] == "update"]
    assert change["actor"] == "erin" and change["changes"] == [{"field": "code_red_drop_pct", "before": 15.0, "after": 12.0}]
    march = selectors.report_figures(deployment=deployment, start=START, end=END)
    assert march["retraining_advice"][0]["topics"][0]["keywords"] == ["nimbus", "functions"]


def test_regenerating_a_report_gives_identical_figures_and_identical_pdf_bytes(scenario, report, personas):
    again = services.report_generate(deployment=scenario.deployment, start=START, end=END, user=personas.erin)
    assert again.pk != report.pk
    assert again.figures_sha256 == report.figures_sha256
    assert again.csv == report.csv
    # The PDF prints the audit chain head of its generation, which moved on (the first report is an event):
    # rendered with the same head, the bytes are identical.
    assert again.audit_chain_head != report.audit_chain_head
    same_head = services.report_render(deployment=scenario.deployment, start=START, end=END,
                                       audit_chain_head=report.audit_chain_head)
    assert same_head.pdf_sha256 == report.pdf_sha256 and same_head.pdf == bytes(report.pdf)


def test_a_threshold_changed_after_the_period_leaves_the_periods_report_unchanged(scenario, report):
    deployment = scenario.deployment
    deployment.material_drop_pct = 30.0  # today, long after March: the March report keeps 10%
    deployment.save()
    result = services.report_verify(report=report)
    assert result.figures_match, result.differences
    assert report.figures["monitoring_plan"]["thresholds"]["material_drop_pct"] == 10.0


def test_an_alert_acknowledged_after_the_period_shows_as_open_at_the_period_end(scenario, personas):
    from verdicts.models import Alert

    Alert.objects.filter(pk=scenario.alert.pk).update(acknowledged_at=dt.datetime(2026, 4, 2, tzinfo=dt.timezone.utc))
    [alert] = selectors.report_figures(deployment=scenario.deployment, start=START, end=END)["alerts"]["items"]
    assert alert["status_at_period_end"] == "open" and alert["acknowledged_by"] is None


def test_verify_reports_which_figure_changed_when_a_record_is_altered(scenario, report):
    from goldenset.models import EvalRun

    EvalRun.objects.filter(pk=scenario.v3_run.pk).update(pass_rate=0.70)
    result = services.report_verify(report=report)
    assert not result.figures_match and not result.ok
    assert result.stored_pdf_intact and result.stored_figures_intact
    assert any(d.startswith("accuracy.trend[1].pass_rate: stored 0.62, now 0.7") for d in result.differences)


def test_the_json_download_hashes_to_the_figures_hash(report):
    import hashlib

    from compliance import render

    text = render.as_json(report.figures)
    assert hashlib.sha256(text.encode()).hexdigest() == report.figures_sha256 == report.json_sha256
    assert json.loads(text) == report.figures


def test_a_csv_cell_that_looks_like_a_formula_is_kept_as_text():
    from compliance.render import csv_safe

    assert csv_safe("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert csv_safe("-12.5") == "-12.5"


def test_a_stored_report_cannot_be_altered_in_the_database(report):
    with as_owner(), pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_compliancereport SET material_degradation = false")
    with pytest.raises(AppendOnlyError):
        report.delete()


def test_a_period_without_golden_evaluations_says_accuracy_was_not_measured(scenario):
    figures = selectors.report_figures(deployment=scenario.deployment, start=at(1, 0), end=at(2, 0))
    assert figures["material_degradation"]["occurred"] is False
    assert figures["material_degradation"]["statement"].startswith("No golden-set evaluation finished in the period")


def test_a_period_with_only_small_drops_states_no_material_degradation(scenario):
    figures = selectors.report_figures(deployment=scenario.deployment, start=at(1), end=at(10))
    md = figures["material_degradation"]
    assert md["occurred"] is False
    assert md["statement"].startswith("No material degradation") and "largest drop 5.00%" in md["statement"]


def test_an_inverted_or_future_period_is_refused_with_a_message_naming_it(scenario):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="must be after start"):
        services.report_generate(deployment=scenario.deployment, start=END, end=START)
    with pytest.raises(ValidationError, match="in the future"):
        services.report_generate(deployment=scenario.deployment, start=dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc),
                                 end=dt.datetime(2099, 2, 1, tzinfo=dt.timezone.utc))


def test_the_monthly_schedule_exists_and_generates_one_report_per_deployment_and_month(scenario):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="compliance.tasks.reports_monthly_task")
    assert (task.crontab.day_of_month, task.crontab.hour, task.enabled) == ("1", "2", True)
    now = dt.datetime(2026, 4, 1, 2, 30, tzinfo=dt.timezone.utc)
    assert scenario.deployment.pk in services.reports_generate_monthly(now=now)
    first = services.report_generate_scheduled(deployment=scenario.deployment, start=START, end=END)
    second = services.report_generate_scheduled(deployment=scenario.deployment, start=START, end=END)
    assert first.pk == second.pk and first.trigger == "schedule" and first.generated_by_username == "system"
    assert scenario.deployment.pk not in services.reports_generate_monthly(now=now)


def test_the_monthly_task_fans_out_one_report_task_per_deployment(scenario, monkeypatch):
    from compliance import tasks

    sent = []
    monkeypatch.setattr(tasks.report_generate_task, "delay", lambda *args: sent.append(args))
    monkeypatch.setattr(services.timezone, "now", lambda: dt.datetime(2026, 4, 1, 2, 30, tzinfo=dt.timezone.utc))
    tasks.reports_monthly_task()
    assert (scenario.deployment.pk, START.isoformat(), END.isoformat()) in sent
