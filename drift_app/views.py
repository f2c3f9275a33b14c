from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.generic import TemplateView

from . import forms, selectors, services
from .models import DriftRun
from .stats import registry
from .roles import ALL_ROLES, COMPLIANCE, ML_ENGINEER, SME, RoleRequiredMixin, has_role

READERS = (ML_ENGINEER, SME, COMPLIANCE)


@login_required
def home(request):
    """Landing page: what each role needs first."""
    deployments = selectors.deployment_list(user=request.user)
    return render(request, "drift/home.html", {"deployments": deployments})


class DeploymentListView(RoleRequiredMixin, TemplateView):
    allowed_roles = (ML_ENGINEER, SME, COMPLIANCE)
    template_name = "drift/deployment_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["deployments"] = selectors.deployment_list(user=self.request.user)
        return ctx


class DeploymentDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = (ML_ENGINEER, SME, COMPLIANCE)
    template_name = "drift/deployment_detail.html"

    def get_context_data(self, slug: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = selectors.deployment_get(slug=slug, user=self.request.user)
        samples = selectors.sample_list(deployment=deployment)
        page = Paginator(samples, 50).get_page(self.request.GET.get("page"))
        counts = selectors.sample_counts(deployment=deployment)
        ctx.update(
            deployment=deployment,
            page=page,
            total=counts["total"],
            embedded=counts["embedded"],
            baseline=selectors.baseline_active(deployment=deployment),
            drift_runs=selectors.drift_run_list(deployment=deployment)[:40],
            quality=selectors.quality_series(deployment=deployment),
        )
        return ctx


class SampleDetailView(RoleRequiredMixin, TemplateView):
    # Power users see samples too: they flag bad answers from this page.
    allowed_roles = ALL_ROLES
    template_name = "drift/sample_detail.html"

    def get_context_data(self, slug: str, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["sample"] = selectors.sample_get(slug=slug, pk=pk, user=self.request.user)
        return ctx


class DriftOperationsView(RoleRequiredMixin, TemplateView):
    """The ML engineer's page: fit a baseline, start a drift run for one of the deployment's windows."""

    allowed_roles = (ML_ENGINEER,)
    template_name = "drift/drift_operations.html"

    def _windows(self, deployment):
        return selectors.recent_windows(deployment=deployment, now=timezone.now(), count=12)

    def _initial_baseline(self, deployment) -> dict:
        period = selectors.sample_period(deployment=deployment)
        if period is None:
            return {}
        first = period[0].date()
        return {"period_start": first, "period_end": first + dt.timedelta(days=14)}

    def get_context_data(self, slug: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = selectors.deployment_get(slug=slug, user=self.request.user)
        ctx.setdefault("baseline_form", forms.BaselineForm(initial=self._initial_baseline(deployment)))
        ctx.setdefault("run_form", forms.DriftRunForm(windows=self._windows(deployment)))
        ctx.update(
            deployment=deployment,
            baselines=selectors.baseline_list(deployment=deployment)[:10],
            active=selectors.baseline_active(deployment=deployment),
            drift_runs=selectors.drift_run_list(deployment=deployment)[:20],
        )
        return ctx

    def post(self, request, slug: str):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        action = request.POST.get("action")
        if action == "baseline":
            form = forms.BaselineForm(request.POST)
            if form.is_valid():
                start, end = form.period()
                try:
                    baseline = services.baseline_create(deployment=deployment, period_start=start, period_end=end,
                                                        max_samples=form.cleaned_data["max_samples"], user=request.user)
                except ValidationError as exc:
                    _add_errors(form, exc)
                else:
                    messages.success(request, f"Baseline #{baseline.pk} is being fitted on {baseline.sample_count} samples.")
                    return redirect("baseline-detail", slug=deployment.slug, pk=baseline.pk)
            return self.render_to_response(self.get_context_data(slug=slug, baseline_form=form), status=400)
        if action == "drift_run":
            form = forms.DriftRunForm(request.POST, windows=self._windows(deployment))
            if form.is_valid():
                start, end = form.bounds()
                try:
                    runs = services.drift_runs_create(deployment=deployment, window_start=start, window_end=end,
                                                      targets=form.targets(), trigger=DriftRun.Trigger.API)
                except ValidationError as exc:
                    _add_errors(form, exc)
                else:
                    messages.success(request, f"Drift run{'s' if len(runs) > 1 else ''} "
                                              f"{', '.join(f'#{r.pk}' for r in runs)} queued for {start:%Y-%m-%d %H:%M}.")
                    return redirect("drift-run-detail", slug=deployment.slug, run_id=runs[0].pk)
            return self.render_to_response(self.get_context_data(slug=slug, run_form=form), status=400)
        return self.render_to_response(self.get_context_data(
            slug=slug, error=f"action must be baseline or drift_run; got {action!r}"), status=400)


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            text = " ".join(m for e in errors for m in e.messages)
            form.add_error(field if field in form.fields else None, f"{field}: {text}")
    else:
        form.add_error(None, " ".join(exc.messages))


def _statistic_label(name: str) -> str:
    try:
        return registry.get(name).label
    except KeyError:
        return name.replace("_", " ")


class DriftRunDetailView(RoleRequiredMixin, TemplateView):
    """One drift run: statistics against thresholds, new topics; refreshes itself while pending or running."""

    allowed_roles = READERS
    template_name = "drift/drift_run_detail.html"

    def get_context_data(self, slug: str, run_id: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = selectors.deployment_get(slug=slug, user=self.request.user)
        run = selectors.drift_run_get(deployment=deployment, run_id=run_id)
        stats = [
            {"name": name, "label": _statistic_label(name), **r}
            for name, r in sorted((run.results or {}).items()) if isinstance(r, dict)
        ]
        ctx.update(deployment=deployment, run=run, stats=stats,
                   working=run.status in (DriftRun.Status.PENDING, DriftRun.Status.RUNNING),
                   can_operate=has_role(self.request.user, ML_ENGINEER))
        return ctx


class BaselineDetailView(RoleRequiredMixin, TemplateView):
    """One baseline; refreshes itself while it is being fitted."""

    allowed_roles = READERS
    template_name = "drift/baseline_detail.html"

    def get_context_data(self, slug: str, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = selectors.deployment_get(slug=slug, user=self.request.user)
        baseline = selectors.baseline_get(deployment=deployment, pk=pk)
        ctx.update(deployment=deployment, baseline=baseline, working=baseline.status == baseline.Status.PENDING,
                   can_operate=has_role(self.request.user, ML_ENGINEER))
        return ctx


def server_error(request):
    """handler500: a backing service that is down answers 503 + Retry-After, anything else the 500 page."""
    import sys

    from django.views import defaults

    from .api_errors import is_unavailable
    from .middleware import unavailable_response

    exc = sys.exc_info()[1]
    if exc is not None and is_unavailable(exc):
        return unavailable_response(request, exc)
    return defaults.server_error(request)
