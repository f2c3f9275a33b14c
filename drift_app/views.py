from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.exceptions import AuthenticationFailed, NotAcceptable, NotAuthenticated

from . import selectors, services
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


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI behind sign-in: a browser that is not signed in goes to the sign-in page (and comes back);
    an API client (no text/html in Accept) keeps its 401 JSON answer."""

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except NotAcceptable:
            # The page is HTML only; a client that is not signed in hears that first, not a 406.
            if not request.user.is_authenticated:
                raise NotAuthenticated() from None
            raise

    def handle_exception(self, exc):
        if isinstance(exc, (NotAuthenticated, AuthenticationFailed)):
            if isinstance(exc, NotAuthenticated) and "text/html" in self.request.META.get("HTTP_ACCEPT", ""):
                return redirect_to_login(self.request.get_full_path())
            # JSON whatever the page renders (it has no JSON renderer of its own).
            return JsonResponse({"detail": str(exc.detail)}, status=401, headers={"WWW-Authenticate": "Token"})
        return super().handle_exception(exc)


class DriftRunRetryView(RoleRequiredMixin, View):
    """The page action behind "Retry" on a failed drift run (POST only; audited through the run's save)."""

    allowed_roles = (ML_ENGINEER,)
    http_method_names = ["post"]

    def post(self, request, slug: str, run_id: int):
        deployment = selectors.deployment_get(slug=slug, user=request.user)
        run = selectors.drift_run_get(deployment=deployment, run_id=run_id)
        try:
            services.drift_run_retry(run=run, user=request.user)
        except services.RetryRefused as exc:
            messages.error(request, f"Not retried: {exc}.")
        else:
            messages.success(request, f"Drift run #{run.pk} ({run.target}) queued again.")
        return redirect(reverse("deployment-detail", args=[deployment.slug]) + "#drift")


class SampleDetailView(RoleRequiredMixin, TemplateView):
    # Power users see samples too: they flag bad answers from this page.
    allowed_roles = ALL_ROLES
    template_name = "drift/sample_detail.html"

    def get_context_data(self, slug: str, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["sample"] = selectors.sample_get(slug=slug, pk=pk, user=self.request.user)
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
