"""Compliance pages: the reports (list, generate, detail, download, verify) and the audit trail.

Compliance officers and ML engineers only; everyone else gets 403, anonymous users the login page.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.generic import TemplateView

from drift_app import selectors as drift_selectors
from drift_app.roles import COMPLIANCE, ML_ENGINEER, RoleRequiredMixin

from . import api, forms, selectors, services
from .models import ReportJob


class _ComplianceView(RoleRequiredMixin, TemplateView):
    allowed_roles = (COMPLIANCE, ML_ENGINEER)


class ReportListView(_ComplianceView):
    template_name = "compliance/report_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        slug = self.request.GET.get("deployment", "")
        deployment = drift_selectors.deployment_find(slug=slug, user=self.request.user) if slug else None
        ctx.update(
            deployments=drift_selectors.deployment_list(user=self.request.user).order_by("name"), selected=deployment,
            page=Paginator(selectors.report_list(deployment=deployment, viewer=self.request.user), 50).get_page(self.request.GET.get("page")),
            query=f"deployment={deployment.slug}" if deployment else "",
            start=self.request.GET.get("start", ""), end=self.request.GET.get("end", ""),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        """Queue the generation and show its progress; a bad form comes back with its input and the problem."""
        slug = request.POST.get("deployment", "")
        deployment = drift_selectors.deployment_find(slug=slug, user=request.user)
        try:
            if deployment is None:
                raise ValidationError({"deployment": f"No deployment with slug {slug!r}: choose one from the list."})
            start = forms.parse_instant(request.POST.get("start", ""), name="start")
            end = forms.parse_instant(request.POST.get("end", ""), name="end")
            job = services.report_job_start(kind=ReportJob.Kind.GENERATE, deployment=deployment, start=start, end=end,
                                            user=request.user)
        except ValidationError as exc:
            ctx = self.get_context_data(**kwargs)
            ctx.update(error=f"Report not generated: {forms.error_text(exc)}", errors=forms.error_dict(exc),
                       start=request.POST.get("start", ""), end=request.POST.get("end", ""),
                       selected=deployment or ctx["selected"])
            return self.render_to_response(ctx, status=400)
        return redirect("compliance:report-job", pk=job.pk)


class ReportDetailView(_ComplianceView):
    template_name = "compliance/report_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        report = selectors.report_get(pk=kwargs["pk"], user=self.request.user)
        ctx.update(report=report, f=report.figures, verification=kwargs.get("verification"))
        return ctx

    def post(self, request, *args, **kwargs):
        report = selectors.report_get(pk=kwargs["pk"], user=request.user)
        job = services.report_job_start(kind=ReportJob.Kind.VERIFY, report=report, user=request.user)
        return redirect("compliance:report-job", pk=job.pk)


class ReportJobView(_ComplianceView):
    """A generation or verification in the background: progress until done (static/js/poll.js), then the outcome."""

    template_name = "compliance/report_job.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["job"] = selectors.report_job_get(pk=kwargs["pk"], user=self.request.user)
        return ctx


class ReportDownloadView(_ComplianceView):
    def get(self, request, *args, **kwargs) -> HttpResponse:
        if kwargs["fmt"] not in api.CONTENT_TYPES:
            raise Http404(f"Unknown format {kwargs['fmt']!r}; use pdf, csv or json.")
        return api.download(selectors.report_get(pk=kwargs["pk"], user=request.user), kwargs["fmt"])


class AuditListView(_ComplianceView):
    template_name = "compliance/audit_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        error = None
        try:
            filters = forms.audit_filters(self.request.GET, deployment_lookup=lambda s: drift_selectors.deployment_find(slug=s, user=self.request.user))
        except ValidationError as exc:
            error, filters = forms.error_text(exc), {}
        events = selectors.audit_event_list(**filters, viewer=self.request.user) if error is None else []
        page = Paginator(events, 50).get_page(self.request.GET.get("page"))
        # The pager's links carry the filters once, never an earlier page (no ?page=2&page=3 pile-up).
        params = self.request.GET.copy()
        params.pop("page", None)
        ctx.update(
            error=error, page=page, rows=selectors.audit_rows(page.object_list),
            params=self.request.GET, query=params.urlencode(),
            object_types=selectors.audit_object_types(), actors=selectors.audit_actors(),
            actions=forms.AUDIT_ACTIONS, deployments=drift_selectors.deployment_list(user=self.request.user).order_by("name"),
        )
        return ctx

    def render_to_response(self, context, **kwargs):
        if context["error"]:
            kwargs.setdefault("status", 400)
        return super().render_to_response(context, **kwargs)


class AuditExportView(_ComplianceView):
    def get(self, request, *args, **kwargs) -> HttpResponse:
        try:
            filters = forms.audit_filters(request.GET, deployment_lookup=lambda s: drift_selectors.deployment_find(slug=s, user=request.user))
        except ValidationError as exc:
            return HttpResponse(f"Bad filter: {forms.error_text(exc)}", status=400, content_type="text/plain; charset=utf-8")
        response = HttpResponse(services.audit_export_csv(events=selectors.audit_event_list(**filters, viewer=request.user)),
                                content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="driftdesk-audit-trail.csv"'
        return response
