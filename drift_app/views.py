from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.exceptions import AuthenticationFailed, NotAcceptable, NotAuthenticated

from . import embeddings, forms, selectors, services
from .models import DriftRun, Team, TeamMembership
from .roles import ALL_ROLES, COMPLIANCE, ML_ENGINEER, SME, TEAM_ADMIN, RoleRequiredMixin, has_role
from .services.keys import INGESTION_SCOPES
from .stats import registry

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
            embedded_current=counts["embedded_current"],
            encoder=embeddings.MODEL_NAME,
            baseline=selectors.baseline_active(deployment=deployment),
            drift_runs=selectors.drift_run_list(deployment=deployment)[:40],
            quality=selectors.quality_series(deployment=deployment),
            # The role in this deployment's team, not in any team (issue 14).
            can_operate=has_role(self.request.user, ML_ENGINEER, team=deployment.team_id),
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
        sample = selectors.sample_get(slug=slug, pk=pk, user=self.request.user)
        ctx["sample"] = sample
        ctx["breadcrumbs"] = [
            ("Home", reverse("home")),
            ("Find answers", reverse("feedback:sample-explorer") + f"?deployment={sample.deployment.slug}"),
            (f"Sample {sample.external_id}", ""),
        ]
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
        reference = (run.combined or {}).get("reference_size")
        ctx.update(deployment=deployment, run=run, stats=stats,
                   working=run.status in (DriftRun.Status.PENDING, DriftRun.Status.RUNNING),
                   can_operate=has_role(self.request.user, ML_ENGINEER, team=deployment.team_id),
                   # A reference under twice the window: the baseline's own noise is a large part of every statistic.
                   small_reference=bool(reference and run.evaluated_count and reference < 2 * run.evaluated_count))
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
                   can_operate=has_role(self.request.user, ML_ENGINEER, team=deployment.team_id))
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


class TeamListView(RoleRequiredMixin, TemplateView):
    """The teams the user manages: as team admin (members) or ML engineer (ingestion keys)."""

    allowed_roles = selectors.TEAM_MANAGERS
    template_name = "drift/team_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["teams"] = selectors.teams_managed(user=self.request.user)
        return ctx


class TeamDetailView(RoleRequiredMixin, TemplateView):
    """One team: members and their roles (team admins change them), deployments, and ingestion keys (team admins
    and ML engineers create them, the secret shown once, and revoke them after a confirmation)."""

    allowed_roles = selectors.TEAM_MANAGERS
    template_name = "drift/team_detail.html"
    ACTIONS = ("add_member", "remove_member", "create_key", "revoke_key")

    def get_context_data(self, team: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        obj = selectors.team_managed_get(slug=team, user=self.request.user)
        keys = selectors.team_ingestion_keys(team=obj)
        revoke = self.request.GET.get("revoke", "")
        ctx.update(
            team=obj, members=selectors.team_members(team=obj), deployments=selectors.team_deployments(team=obj),
            keys=keys, roles=TeamMembership.Role.choices, scopes=sorted(INGESTION_SCOPES),
            is_team_admin=has_role(self.request.user, TEAM_ADMIN, team=obj.pk),
            confirm_revoke=keys.filter(prefix=revoke, revoked_at__isnull=True).first() if revoke else None,
        )
        return ctx

    def post(self, request, team: str):
        obj = selectors.team_managed_get(slug=team, user=request.user)
        action = request.POST.get("action", "")
        if action not in self.ACTIONS:
            return HttpResponse(f"action: must be one of {', '.join(self.ACTIONS)}.", status=400,
                                content_type="text/plain; charset=utf-8")
        try:
            secret = self._act(request, obj, action)
        except ValidationError as exc:
            messages.error(request, "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
                           if hasattr(exc, "error_dict") else "; ".join(exc.messages))
            return redirect("team-detail", team=obj.slug)
        except PermissionDenied as exc:
            return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
        if secret is not None:
            # Shown once, on this response only: the page is not cached and the secret is stored only hashed.
            response = self.render_to_response(self.get_context_data(team=obj.slug, new_secret=secret))
            response["Cache-Control"] = "no-store"
            return response
        return redirect("team-detail", team=obj.slug)

    def _act(self, request, team: Team, action: str) -> str | None:
        post, user = request.POST, request.user
        if action == "add_member":
            m = services.team_member_add(team=team, actor=user, username=post.get("username", ""),
                                         role=post.get("role", ""))
            messages.success(request, f"{m.user.get_username()} is now {m.get_role_display()} in {team.name}.")
        elif action == "remove_member":
            m = selectors.team_membership_get(team=team, pk=_int(post.get("membership"), "membership"))
            services.team_member_remove(membership=m, actor=user)
            messages.success(request, f"{m.user.get_username()} is no longer {m.get_role_display()} in {team.name}.")
        elif action == "create_key":
            deployment = get_object_or_404(selectors.team_deployments(team=team), slug=post.get("deployment", ""))
            _require_key_manager(user, team)
            key, secret = services.ingestion_key_create(deployment=deployment, user=user, name=post.get("name", ""),
                                                        scopes=post.getlist("scopes"))
            messages.success(request, f"Key {key.prefix}… made for {deployment.name}. Copy the secret now: "
                                      "it is not shown again.")
            return secret
        else:
            _require_key_manager(user, team)
            key = get_object_or_404(selectors.team_ingestion_keys(team=team), prefix=post.get("prefix", ""))
            if post.get("confirm") != key.prefix:
                raise ValidationError({"confirm": "type the key's prefix to confirm the revocation"})
            services.api_key_revoke(key=key, user=user)
            messages.success(request, f"Key {key.prefix}… revoked: it no longer ingests into {key.deployment.name}.")
        return None


def _int(value, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: "must be a number"}) from None


def _require_key_manager(user, team: Team) -> None:
    if not has_role(user, TEAM_ADMIN, ML_ENGINEER, team=team.pk):
        raise PermissionDenied("Only team admins and ML engineers of this team manage its ingestion keys.")
