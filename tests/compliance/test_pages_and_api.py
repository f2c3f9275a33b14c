"""Reports pages and API: who may generate, download and verify; what a bad request is told."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from compliance.models import ComplianceReport

from .conftest import END, START

READERS = ["charlie", "erin"]
OTHERS = ["alice", "bob", "mallory"]


def generate_via_api(personas, name="charlie", **body):
    payload = {"deployment": "acme-support", "start": "2026-03-01", "end": "2026-04-01", **body}
    return personas.api(name).post("/api/v1/compliance/reports", payload, format="json")


@pytest.mark.parametrize("name", READERS)
def test_compliance_officers_and_ml_engineers_generate_a_report_through_the_api(scenario, personas, name):
    response = generate_via_api(personas, name)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["material_degradation"] is True and body["generated_by_username"] == name
    assert ComplianceReport.objects.get(pk=body["id"]).generated_by_username == name


@pytest.mark.parametrize("name", OTHERS)
def test_other_roles_may_not_generate_list_or_download_reports(scenario, personas, name):
    report_id = generate_via_api(personas).json()["id"]
    client = personas.api(name)
    assert generate_via_api(personas, name).status_code == 403
    assert client.get("/api/v1/compliance/reports").status_code == 403
    assert client.get(f"/api/v1/compliance/reports/{report_id}/pdf").status_code == 403
    assert client.post(f"/api/v1/compliance/reports/{report_id}/verify").status_code == 403
    assert client.get("/api/v1/compliance/audit").status_code == 403
    assert client.get("/api/v1/compliance/audit.csv").status_code == 403


def test_anonymous_api_callers_are_refused(scenario, personas):
    assert personas.api(None).get("/api/v1/compliance/reports").status_code in (401, 403)


@pytest.mark.parametrize("name", OTHERS)
def test_other_roles_get_403_on_the_pages(scenario, client, personas, name):
    client.force_login(getattr(personas, name))
    for url in ("/compliance/reports/", "/compliance/audit/", "/compliance/audit/export.csv"):
        assert client.get(url).status_code == 403, url


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get("/compliance/reports/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_an_unknown_deployment_or_a_bad_period_is_a_clear_4xx(scenario, personas):
    unknown = generate_via_api(personas, deployment="nope")
    assert unknown.status_code == 400 and "nope" in json.dumps(unknown.json())
    inverted = generate_via_api(personas, start="2026-04-01", end="2026-03-01")
    assert inverted.status_code == 400 and "after" in json.dumps(inverted.json())
    garbage = generate_via_api(personas, start="yesterday-ish")
    assert garbage.status_code == 400 and "start" in json.dumps(garbage.json())


def test_the_downloads_are_the_stored_bytes_and_carry_their_sha256(scenario, personas):
    body = generate_via_api(personas).json()
    client = personas.api("charlie")
    pdf = client.get(f"/api/v1/compliance/reports/{body['id']}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == body["pdf_sha256"] == pdf["X-Content-SHA256"]
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Material degradation occurred: yes" in " ".join(text.split())
    js = client.get(f"/api/v1/compliance/reports/{body['id']}/json")
    assert hashlib.sha256(js.content).hexdigest() == body["figures_sha256"]
    csv = client.get(f"/api/v1/compliance/reports/{body['id']}/csv")
    assert hashlib.sha256(csv.content).hexdigest() == body["csv_sha256"]
    assert client.get(f"/api/v1/compliance/reports/{body['id']}/docx").status_code == 404


def test_verify_through_the_api_confirms_an_untouched_report(scenario, personas):
    report_id = generate_via_api(personas).json()["id"]
    result = personas.api("erin").post(f"/api/v1/compliance/reports/{report_id}/verify").json()
    assert result["ok"] is True and result["figures_match"] is True and result["differences"] == []


def test_a_compliance_officer_generates_downloads_and_verifies_on_the_pages(scenario, client, personas):
    from compliance import tasks
    from compliance.models import ReportJob

    client.force_login(personas.charlie)
    response = client.post("/compliance/reports/", {"deployment": "acme-support", "start": "2026-03-01",
                                                    "end": "2026-04-01"})
    # Generation runs on a worker: the page answers at once with the job's progress page.
    job = ReportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/compliance/jobs/{job.pk}/"
    waiting = client.get(response["Location"]).content.decode()
    assert "data-poll" in waiting and "<progress" in waiting and not ComplianceReport.objects.exists()
    tasks.report_job_task(job.pk)  # what the worker does
    report = ComplianceReport.objects.get()
    done = client.get(response["Location"]).content.decode()
    assert "data-poll" not in done and f'href="/compliance/reports/{report.pk}/"' in done
    detail = client.get(f"/compliance/reports/{report.pk}/")
    assert b"Material degradation occurred: yes" in detail.content
    listing = client.get("/compliance/reports/")
    assert f"/compliance/reports/{report.pk}/download.pdf".encode() in listing.content
    download = client.get(f"/compliance/reports/{report.pk}/download.pdf")
    assert hashlib.sha256(download.content).hexdigest() == report.pdf_sha256
    queued = client.post(f"/compliance/reports/{report.pk}/")
    verify = ReportJob.objects.get(kind="verify")
    assert queued["Location"] == f"/compliance/jobs/{verify.pk}/"
    tasks.report_job_task(verify.pk)
    verified = client.get(queued["Location"])
    assert b"Verified: report #%d is intact" % report.pk in verified.content


def test_a_bad_period_on_the_page_says_what_is_wrong(scenario, client, personas):
    client.force_login(personas.erin)
    response = client.post("/compliance/reports/", {"deployment": "acme-support", "start": "2026-04-01",
                                                    "end": "2026-03-01"})
    html = response.content.decode()
    assert response.status_code == 400 and not ComplianceReport.objects.exists()
    # The problem once, next to the form that still holds what was typed.
    assert html.count("Report not generated") == 1 and "must be after start" in html
    assert 'name="start" value="2026-04-01"' in html and 'name="end" value="2026-03-01"' in html


def test_the_management_commands_generate_and_verify_a_report(scenario, personas, capsys):
    call_command("compliance_report", "acme-support", "--month", "2026-03", "--as", "charlie")
    report = ComplianceReport.objects.get()
    assert report.trigger == "command" and report.generated_by_username == "charlie"
    call_command("compliance_verify", str(report.pk))
    out = capsys.readouterr().out
    assert "Material degradation occurred: yes" in out and '"ok": true' in out


def test_the_demo_hook_stores_the_officers_report_of_the_period(scenario, personas):
    from demo.compliance import load_demo

    report = load_demo(deployment=scenario.deployment, users={"compliance": [personas.charlie]},
                       timeline={"start": START, "end": END})
    assert report.trigger == "demo" and report.material_degradation is True
    assert report.generated_by_username == "charlie"
