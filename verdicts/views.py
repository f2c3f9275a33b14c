"""Pages: the deployment dashboard, verdicts, alerts (acknowledge, resolve), retraining advice."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from drift_app import confirm
from drift_app import selectors as drift_selectors
from drift_app.roles import COMPLIANCE, ML_ENGINEER, SME, RoleRequiredMixin, has_role

from . import selectors, services
from .models import Alert, VerdictClass

READERS = (ML_ENGINEER, SME, COMPLIANCE)
# Who may acknowledge and resolve alerts: the people who act on them. Compliance reads and audits.
RESPONDERS = (ML_ENGINEER, SME)
CURATORS = (ML_ENGINEER, SME)


def _error_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(m for e in v for m in e.messages)}" for k, v in exc.error_dict.items())
    return " ".join(exc.messages)


class BadRequestMixin:
    """A page whose filters were invalid renders with the problem and status 400 (set self.bad_request)."""

    bad_request = ""

    def render_to_response(self, context, **kwargs):
        if self.bad_request:
            context["error"] = self.bad_request
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)


class DashboardView(BadRequestMixin, RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "verdicts/dashboard.html"

    def get_context_data(self, slug: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = drift_selectors.deployment_get(slug=slug, user=self.request.user)
        verdicts = list(selectors.verdict_list(deployment=deployment, viewer=self.request.user))
        chosen = None
        wanted = self.request.GET.get("window", "")
        if wanted:
            if not wanted.isdigit():
                self.bad_request = f"window must be a verdict id (a number), got {wanted!r}"
            chosen = next((v for v in verdicts if str(v.pk) == wanted), None)
            if chosen is None and not self.bad_request:
                self.bad_request = f"deployment {deployment.slug} has no verdict #{wanted}"
        if chosen is None and verdicts:
            # The map shows the newest window with new topics, else the newest window.
            with_topics = [v for v in verdicts if ((v.inputs.get("drift") or {}).get("prompts") or {}).get("topics")]
            chosen = (with_topics or verdicts)[-1]
        ctx.update(
            deployment=deployment,
            verdicts=list(reversed(verdicts)),
            latest=verdicts[-1] if verdicts else None,
            chosen=chosen,
            series=selectors.dashboard_series(verdicts=verdicts, deployment=deployment),
            prompt_map=selectors.prompt_map(deployment=deployment, verdict=chosen),
            quality=drift_selectors.quality_series(deployment=deployment),
            alerts=selectors.alert_list(deployment=deployment, viewer=self.request.user)[:50],
            advice=selectors.retraining_advice_list(deployment=deployment, viewer=self.request.user)[:10],
            policy=selectors.policy_get(deployment=deployment),
            can_respond=has_role(self.request.user, *RESPONDERS, team=deployment.team_id),
            can_export=has_role(self.request.user, *CURATORS, team=deployment.team_id),
            classes=VerdictClass.choices,
        )
        return ctx

class VerdictListView(BadRequestMixin, RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "verdicts/verdict_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        verdict_class = self.request.GET.get("class", "")
        if verdict_class and verdict_class not in VerdictClass.values:
            self.bad_request = f"class must be one of {', '.join(VerdictClass.values)}; got {verdict_class!r}"
            verdict_class_filter = None
        else:
            verdict_class_filter = verdict_class or None
        material = self.request.GET.get("material") == "1"
        qs = selectors.verdict_list(
            deployment=None, verdict_class=verdict_class_filter, material_only=material, viewer=self.request.user,
        ).order_by("-window_start", "deployment__name")
        # Paged with counts, never cut: 50 a page (the pager keeps the filters).
        page = Paginator(qs, 50).get_page(self.request.GET.get("page"))
        ctx.update(verdicts=page, page=page, verdict_class=verdict_class, material=material, classes=VerdictClass.choices)
        return ctx

class VerdictDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "verdicts/verdict_detail.html"

    def get_context_data(self, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        verdict = selectors.verdict_get(pk=pk, user=self.request.user)
        case = selectors.verdict_case_file(verdict=verdict, viewer=self.request.user)
        ctx.update(
            breadcrumbs=[("Home", reverse("home")), ("Verdicts", reverse("verdicts:verdict-list")),
                         (f"{verdict.deployment.name}, {verdict.window_start:%Y-%m-%d}", "")],
            verdict=verdict, alerts=verdict.opened_alerts.all(), case=case,
            evidence=verdict.inputs.get("evidence") or [], history=case["history"],
        )
        return ctx


class AlertListView(BadRequestMixin, RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "verdicts/alert_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        status, tier = self.request.GET.get("status", ""), self.request.GET.get("tier", "")
        problems = []
        if status and status not in Alert.Status.values:
            problems.append(f"status must be one of {', '.join(Alert.Status.values)}; got {status!r}")
        if tier and tier not in Alert.Tier.values:
            problems.append(f"tier must be one of {', '.join(Alert.Tier.values)}; got {tier!r}")
        if problems:
            self.bad_request = "; ".join(problems)
            status = tier = ""
        page = Paginator(selectors.alert_list(deployment=None, status=status or None, tier=tier or None,
                                              viewer=self.request.user), 50).get_page(self.request.GET.get("page"))
        ctx.update(
            alerts=page, page=page,
            status=status, tier=tier, statuses=Alert.Status.choices, tiers=Alert.Tier.choices,
            title="Alerts",
        )
        return ctx

class ReviewQueueView(RoleRequiredMixin, TemplateView):
    """The weekly review queue: open review-tier alerts (5-15% drops, lasting flag rises)."""

    allowed_roles = READERS
    template_name = "verdicts/review_queue.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["alerts"] = selectors.alert_list(deployment=None, tier=Alert.Tier.REVIEW, open_only=True,
                                             viewer=self.request.user)
        ctx["can_respond"] = has_role(self.request.user, *RESPONDERS)
        return ctx


class AlertDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "verdicts/alert_detail.html"

    def get_context_data(self, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        alert = selectors.alert_get(pk=pk, user=self.request.user)
        ctx.update(
            alert=alert, deliveries=selectors.alert_delivery_list(alert=alert),
            can_respond=has_role(self.request.user, *RESPONDERS, team=alert.deployment.team_id),
            breadcrumbs=[("Home", reverse("home")), ("Alerts", reverse("verdicts:alert-list")),
                         (f"{alert.get_tier_display()} #{alert.pk}", "")],
        )
        return ctx


class _AlertActionView(RoleRequiredMixin, TemplateView):
    allowed_roles = RESPONDERS
    template_name = "verdicts/alert_detail.html"
    done = ""

    def get(self, request, pk: int):
        return redirect("verdicts:alert-detail", pk=pk)

    def act(self, *, alert, user, comment):  # pragma: no cover - overridden
        raise NotImplementedError

    def needs_confirmation(self, alert) -> str:
        """The consequence to confirm before acting, or "" when one click is enough."""
        return ""

    def post(self, request, pk: int):
        alert = selectors.alert_get(pk=pk, user=request.user)
        consequence = self.needs_confirmation(alert)
        if consequence and not confirm.confirmed(request):
            return confirm.confirmation_page(
                request, title=f"Resolve alert #{alert.pk}", consequence=consequence, action_label="Resolve the code red",
                cancel_url=reverse("verdicts:alert-detail", args=[alert.pk]))
        try:
            self.act(alert=alert, user=request.user, comment=request.POST.get("comment", ""))
        except ValidationError as exc:
            status = 409 if isinstance(exc, services.AlertStateError) else 400
            ctx = {
                "alert": alert, "deliveries": selectors.alert_delivery_list(alert=alert), "can_respond": True,
                "error": _error_text(exc), "comment": request.POST.get("comment", ""),
            }
            return self.render_to_response(ctx, status=status)
        messages.success(request, f"Alert #{alert.pk} {self.done}.")
        return redirect("verdicts:alert-detail", pk=alert.pk)


class AlertAcknowledgeView(_AlertActionView):
    done = "acknowledged"

    def act(self, *, alert, user, comment):
        services.alert_acknowledge(alert=alert, user=user, comment=comment)


class AlertResolveView(_AlertActionView):
    done = "resolved"

    def needs_confirmation(self, alert) -> str:
        if alert.tier != Alert.Tier.CODE_RED:
            return ""
        return (f"Resolving closes the code red on {alert.deployment.name}: it leaves the open alerts and the "
                "on-call is no longer reminded. A new code red opens only if a later window degrades again.")

    def act(self, *, alert, user, comment):
        services.alert_resolve(alert=alert, user=user, comment=comment)


class AdviceDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "verdicts/advice_detail.html"

    def get_context_data(self, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["advice"] = selectors.retraining_advice_get(pk=pk, user=self.request.user)
        ctx["can_export"] = has_role(self.request.user, *CURATORS, team=ctx["advice"].deployment.team_id)
        return ctx


class AdviceExportView(RoleRequiredMixin, View):
    allowed_roles = CURATORS

    def get(self, request, pk: int):
        advice = selectors.retraining_advice_get(pk=pk, user=request.user)
        body = services.advice_export_jsonl(advice=advice)
        response = HttpResponse(body, content_type="application/jsonl; charset=utf-8")
        name = f"{advice.deployment.slug}-new-topics-{advice.verdict.window_start:%Y-%m-%d}.jsonl"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
