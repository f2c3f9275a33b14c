from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.views.generic import TemplateView

from . import selectors
from .roles import ALL_ROLES, COMPLIANCE, ML_ENGINEER, SME, RoleRequiredMixin


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
        sample = selectors.sample_get(slug=slug, pk=pk, user=self.request.user)
        ctx["sample"] = sample
        ctx["breadcrumbs"] = [
            ("Home", reverse("home")),
            ("Find answers", reverse("feedback:sample-explorer") + f"?deployment={sample.deployment.slug}"),
            (f"Sample {sample.external_id}", ""),
        ]
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
