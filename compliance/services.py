"""Writes for compliance: generate, verify and schedule degradation reports; export the audit trail."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from drift_app.models import Deployment

from . import audit, chain, render, selectors
from .models import ComplianceReport, ReportJob

logger = logging.getLogger(__name__)

# A report spans at most this long: a regulator's period is a month or a quarter, a year at most.
MAX_PERIOD = dt.timedelta(days=366)


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant of the month, first instant of the next month) in UTC."""
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.timezone.utc)
    nxt = dt.datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start, nxt


def previous_month(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    first = now.astimezone(dt.timezone.utc).date().replace(day=1)
    return month_bounds(first - dt.timedelta(days=1))


def check_period(*, start: dt.datetime, end: dt.datetime, now: dt.datetime | None = None) -> None:
    problems = {}
    if timezone.is_naive(start) or timezone.is_naive(end):
        problems["start"] = "start and end must carry a time zone (e.g. 2026-03-01T00:00:00Z)."
    elif end <= start:
        problems["end"] = f"end ({end.isoformat()}) must be after start ({start.isoformat()})."
    elif end - start > MAX_PERIOD:
        problems["end"] = f"a report covers at most {MAX_PERIOD.days} days; this period has {(end - start).days}."
    elif start > (now or timezone.now()):
        problems["start"] = f"start ({start.isoformat()}) is in the future: there is nothing to report yet."
    if problems:
        raise ValidationError(problems)


@dataclass(frozen=True)
class Rendered:
    figures: dict
    figures_sha256: str
    pdf: bytes
    pdf_sha256: str
    csv: str
    csv_sha256: str
    json: str
    json_sha256: str


def _no_progress(fraction: float, step: str) -> None:
    return None


def report_render(*, deployment: Deployment, start: dt.datetime, end: dt.datetime, audit_chain_head: str = "",
                  progress=_no_progress) -> Rendered:
    """Figures from the database, then the three renderings (the PDF prints `audit_chain_head`). Writes nothing."""
    # Figures take most of the time up to 70%, the PDF most of the rest.
    figures = selectors.report_figures(deployment=deployment, start=start, end=end,
                                       progress=lambda f, step: progress(0.7 * f, step))
    progress(0.7, "Rendering the PDF")
    pdf = render.pdf(figures, audit_chain_head=audit_chain_head)
    progress(0.95, "Writing the CSV and JSON")
    csv_text = render.as_csv(figures)
    json_text = render.as_json(figures)
    return Rendered(
        figures=figures, figures_sha256=selectors.figures_sha256(figures),
        pdf=pdf, pdf_sha256=_sha256(pdf), csv=csv_text, csv_sha256=_sha256(csv_text),
        json=json_text, json_sha256=_sha256(json_text),
    )


def report_generate(
    *, deployment: Deployment, start: dt.datetime, end: dt.datetime, user=None, trigger: str = ComplianceReport.Trigger.PAGE,
    progress=_no_progress,
) -> ComplianceReport:
    """Compute the report of `deployment` for [start, end) and store it with its hashes, generator and time."""
    check_period(start=start, end=end)
    began = time.perf_counter()
    head = chain.head()[1]
    # Read first, outside a transaction, so a polling page sees the progress; then one atomic write.
    out = report_render(deployment=deployment, start=start, end=end, audit_chain_head=head, progress=progress)
    with transaction.atomic():
        return _report_store(deployment=deployment, start=start, end=end, user=user, trigger=trigger, out=out, head=head,
                             duration=time.perf_counter() - began)


def _report_store(*, deployment: Deployment, start, end, user, trigger: str, out: Rendered, head: str,
                  duration: float) -> ComplianceReport:
    report = ComplianceReport.objects.create(
        deployment=deployment, period_start=start, period_end=end,
        figures=out.figures, figures_sha256=out.figures_sha256,
        pdf=out.pdf, pdf_sha256=out.pdf_sha256, csv=out.csv, csv_sha256=out.csv_sha256, json_sha256=out.json_sha256,
        generator=render.generator(), generated_at=timezone.now(),
        generated_by_id=user.pk if user is not None else None,
        generated_by_username=user.get_username() if user is not None else "system",
        trigger=trigger, material_degradation=out.figures["material_degradation"]["occurred"],
        duration_seconds=round(duration, 3), audit_chain_head=head,
    )
    audit.record(action="generate", object_type="compliance.ComplianceReport", object_id=report.pk,
                 object_repr=f"{deployment.slug} {start:%Y-%m-%d}..{end:%Y-%m-%d}", deployment_id=deployment.pk,
                 after={"figures_sha256": report.figures_sha256, "trigger": trigger,
                        "audit_chain_head": report.audit_chain_head})
    logger.info("compliance report %s for %s %s..%s generated by %s in %.2fs (figures %s)", report.pk,
                deployment.slug, start.isoformat(), end.isoformat(), report.generated_by_username,
                report.duration_seconds, report.figures_sha256[:12])
    return report


@dataclass(frozen=True)
class Verification:
    """Outcome of re-checking a stored report against its hashes and against the database today."""

    report_id: int
    stored_pdf_intact: bool  # the stored PDF bytes still hash to pdf_sha256
    stored_figures_intact: bool  # the stored figures still hash to figures_sha256
    figures_match: bool  # regenerating from the database today gives the same figures
    pdf_match: bool  # ... and the same PDF bytes (needs the same WeasyPrint and fonts)
    recomputed_figures_sha256: str
    recomputed_pdf_sha256: str
    differences: list[str]

    @property
    def ok(self) -> bool:
        return self.stored_pdf_intact and self.stored_figures_intact and self.figures_match

    def as_dict(self) -> dict:
        return {
            "report_id": self.report_id, "ok": self.ok, "stored_pdf_intact": self.stored_pdf_intact,
            "stored_figures_intact": self.stored_figures_intact, "figures_match": self.figures_match,
            "pdf_match": self.pdf_match, "recomputed_figures_sha256": self.recomputed_figures_sha256,
            "recomputed_pdf_sha256": self.recomputed_pdf_sha256, "differences": self.differences,
        }


def _diff(a, b, path: str = "", out: list[str] | None = None, limit: int = 50) -> list[str]:
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _diff(a.get(key), b.get(key), f"{path}.{key}" if path else key, out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out, limit)
    elif a != b:
        out.append(f"{path}: stored {a!r}, now {b!r}"[:300])
    return out


def report_verify(*, report: ComplianceReport, progress=_no_progress) -> Verification:
    """Recompute the report's figures and PDF from the database and compare them with what was stored."""
    out = report_render(deployment=report.deployment, start=report.period_start, end=report.period_end,
                        audit_chain_head=report.audit_chain_head, progress=progress)
    result = Verification(
        report_id=report.pk,
        stored_pdf_intact=_sha256(bytes(report.pdf)) == report.pdf_sha256,
        stored_figures_intact=selectors.figures_sha256(report.figures) == report.figures_sha256,
        figures_match=out.figures_sha256 == report.figures_sha256,
        pdf_match=out.pdf_sha256 == report.pdf_sha256,
        recomputed_figures_sha256=out.figures_sha256,
        recomputed_pdf_sha256=out.pdf_sha256,
        differences=_diff(report.figures, out.figures),
    )
    audit.record(action="verify", object_type="compliance.ComplianceReport", object_id=report.pk,
                 object_repr=str(report.pk), deployment_id=report.deployment_id,
                 after={"ok": result.ok, "figures_match": result.figures_match})
    return result


# --- Report jobs: generation and verification on a worker, with progress ----------------------------


def report_job_start(*, kind: str, user, deployment: Deployment | None = None, start: dt.datetime | None = None,
                     end: dt.datetime | None = None, report: ComplianceReport | None = None) -> ReportJob:
    """Queue a generation (deployment, start, end) or a verification (report); the page polls the job."""
    if kind == ReportJob.Kind.GENERATE:
        check_period(start=start, end=end)
    elif kind == ReportJob.Kind.VERIFY:
        if report is None:
            raise ValidationError({"report": "a verification needs the report to verify"})
        deployment, start, end = report.deployment, report.period_start, report.period_end
    else:
        raise ValidationError({"kind": f"kind must be generate or verify; got {kind!r}"})
    job = ReportJob.objects.create(kind=kind, deployment=deployment, period_start=start, period_end=end, report=report,
                                   requested_by=user, step="Waiting for a worker")
    from .tasks import report_job_task

    transaction.on_commit(lambda: report_job_task.delay(job.pk))
    return job


def _job_progress(job: ReportJob):
    def update(fraction: float, step: str) -> None:
        # Outside the generation's transaction: the polling page must see progress while the job runs.
        ReportJob.objects.filter(pk=job.pk).update(progress=round(min(max(fraction, 0.0), 1.0), 3), step=step[:200])

    return update


def report_job_run(*, job: ReportJob) -> ReportJob:
    """Run a queued job to the end. A job already done (a redelivered task) is left as it is."""
    if job.status in (ReportJob.Status.DONE, ReportJob.Status.FAILED):
        return job
    ReportJob.objects.filter(pk=job.pk).update(status=ReportJob.Status.RUNNING, step="Starting")
    progress = _job_progress(job)
    user = job.requested_by
    try:
        if job.kind == ReportJob.Kind.GENERATE:
            report = report_generate(deployment=job.deployment, start=job.period_start, end=job.period_end, user=user,
                                     trigger=ComplianceReport.Trigger.PAGE, progress=progress)
            job.report, job.result = report, None
        else:
            job.result = report_verify(report=job.report, progress=progress).as_dict()
    except ValidationError as exc:
        job.status, job.error = ReportJob.Status.FAILED, "; ".join(exc.messages)
    else:
        job.status, job.error = ReportJob.Status.DONE, ""
    job.progress, job.step, job.finished_at = 1.0, "", timezone.now()
    job.save(update_fields=["report", "result", "status", "error", "progress", "step", "finished_at"])
    return job


def report_job_fail(*, job_id: int, error: str) -> None:
    """A job whose task failed for good: shown as failed instead of polling forever."""
    ReportJob.objects.filter(pk=job_id).exclude(status=ReportJob.Status.DONE).update(
        status=ReportJob.Status.FAILED, error=error[:2000], finished_at=timezone.now())


def reports_generate_monthly(*, now: dt.datetime | None = None) -> list[int]:
    """Deployment ids whose report for last month still has to be generated by the schedule."""
    start, end = previous_month(now or timezone.now())
    done = set(ComplianceReport.objects.filter(
        period_start=start, period_end=end, trigger=ComplianceReport.Trigger.SCHEDULE
    ).values_list("deployment_id", flat=True))
    return [pk for pk in Deployment.objects.order_by("pk").values_list("pk", flat=True) if pk not in done]


@transaction.atomic
def report_generate_scheduled(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> ComplianceReport:
    """The schedule's report: at most one per deployment and period, so a redelivered task is harmless."""
    # Serialise concurrent deliveries of the same task on the deployment row.
    Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
    existing = ComplianceReport.objects.filter(
        deployment=deployment, period_start=start, period_end=end, trigger=ComplianceReport.Trigger.SCHEDULE
    ).first()
    if existing is not None:
        return existing
    return report_generate(deployment=deployment, start=start, end=end, trigger=ComplianceReport.Trigger.SCHEDULE)


AUDIT_CSV_COLUMNS = ["id", "at", "actor_id", "actor", "source", "request_path", "action", "object_type", "object_id",
                     "object", "deployment_id", "changed_fields", "before", "after"]


def report_downloaded(*, report: ComplianceReport, fmt: str) -> None:
    audit.record(action="download", object_type="compliance.ComplianceReport", object_id=report.pk,
                 object_repr=f"{report.pk}.{fmt}", deployment_id=report.deployment_id, after={"format": fmt})


def audit_export_csv(*, events) -> str:
    """The events as CSV, one row each; before/after as canonical JSON (sorted keys); the export is an event."""
    audit.record(action="export", object_type="compliance.AuditEvent", object_id="", object_repr="audit trail CSV")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(AUDIT_CSV_COLUMNS)
    for e in events.iterator(chunk_size=2000):
        writer.writerow([render.csv_safe(str(v)) for v in (
            e.pk, selectors.ts(e.at), "" if e.actor_id is None else e.actor_id, e.actor_username, e.source,
            e.request_path, e.action, e.object_type, e.object_id, e.object_repr,
            "" if e.deployment_id is None else e.deployment_id, ";".join(e.changed_fields),
            "" if e.before is None else json.dumps(e.before, sort_keys=True, ensure_ascii=False),
            "" if e.after is None else json.dumps(e.after, sort_keys=True, ensure_ascii=False),
        )])
    return buffer.getvalue()

