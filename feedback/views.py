"""Feedback pages. Power users: flag from the sample page, "my flags". SMEs: triage, label, adjudicate,
promote. Compliance and ML engineers: the same pages read-only."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.views import View
from django.views.generic import TemplateView

from drift_app import selectors as drift_selectors
from drift_app.roles import (
    COMPLIANCE,
    ML_ENGINEER,
    POWER_USER,
    SME,
    RoleRequiredMixin,
    has_role,
)
from goldenset import selectors as golden_selectors
from goldenset.services import NEAR_DUPLICATE_SIMILARITY

from . import selectors, services
from .models import Flag, LabelChoice, Reason
from .throttles import FlagRateThrottle, limit_message

READERS = (SME, COMPLIANCE, ML_ENGINEER)


def highlight_pii(text: str) -> tuple[SafeString, list]:
    """The text, HTML-escaped, with likely personal data wrapped in <mark>; and the findings."""
    from goldenset.pii import find_pii

    findings = find_pii(text or "")
    parts, pos = [], 0
    for f in findings:
        parts.append(escape(text[pos : f.start]))
        parts.append(f'<mark class="pii" title="likely {escape(f.kind)}">{escape(f.text)}</mark>')
        pos = f.end
    parts.append(escape((text or "")[pos:]))
    return mark_safe("".join(parts)), findings


# --- Power users --------------------------------------------------------------------------------


class FlagSampleView(RoleRequiredMixin, View):
    """POST from a "flag this answer" control: on the sample page or on a row of the sample explorer.

    A refusal shows the sample page again with the reason and comment as typed and the problem in words.
    """

    allowed_roles = (POWER_USER,)
    http_method_names = ["post"]

    def post(self, request, sample_pk: int):
        sample = drift_selectors.sample_get(pk=sample_pk, user=request.user)
        back = reverse("sample-detail", args=[sample.deployment.slug, sample.pk])
        nxt = request.POST.get("next", "")
        if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
            back = nxt
        reason, comment = request.POST.get("reason", ""), request.POST.get("comment", "")
        throttle = FlagRateThrottle()
        # The same per-user limit as the API, counted in the same Redis keys.
        if not throttle.allow_request(request, None):
            return _flag_refused(request, sample, 429, limit_message(throttle.wait()), reason, comment)
        if reason not in Reason.values:
            return _flag_refused(request, sample, 400, "Choose what is wrong with the answer from the list "
                                 "(incorrect, outdated, harmful, unhelpful or other).", reason, comment)
        try:
            services.flag_create(sample=sample, user=request.user, reason=reason, comment=comment)
        except services.FeedbackError as exc:
            return _flag_refused(request, sample, exc.status, exc.message, reason, comment)
        messages.success(request, "Thank you: the answer is flagged. An SME will review it; see My flags for the outcome.")
        return HttpResponseRedirect(back)


def _flag_refused(request, sample, status: int, message: str, reason: str, comment: str):
    response = render(request, "drift/sample_detail.html", {
        "sample": sample,
        "flag_form": {"reason": reason, "comment": comment, "error": message},
        "breadcrumbs": _sample_crumbs(sample),
    }, status=status)
    if status == 429:
        response["Retry-After"] = "60"
    return response


def _sample_crumbs(sample) -> list[tuple[str, str]]:
    return [("Home", reverse("home")),
            ("Find answers", reverse("feedback:sample-explorer") + f"?deployment={sample.deployment.slug}"),
            (f"Sample {sample.external_id}", "")]


def _page(request, queryset, per_page: int = 50):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _filtered_page(request, found) -> tuple[object, str | None, int]:
    """A filter's page of rows, or (bad filter values) an empty page with the form's errors and a 400."""
    if found.is_bound and not found.is_valid():
        return _page(request, found.queryset.none()), found.errors_text, 400
    return _page(request, found.qs), None, 200


class SampleExplorerView(RoleRequiredMixin, TemplateView):
    """Find answers: full-text search and filters over the samples of the caller's teams' deployments.

    Every role may read it: power users find the answer they want to flag here (their team's answers are
    what they flag already); SMEs, compliance and ML engineers read the same rows with their flags.
    """

    allowed_roles = (POWER_USER, SME, COMPLIANCE, ML_ENGINEER)
    template_name = "feedback/sample_explorer.html"

    def get(self, request, *args, **kwargs):
        found = selectors.sample_explorer(viewer=request.user, data=request.GET or None)
        ctx = self.get_context_data(**kwargs)
        ctx["page"], error, status = _filtered_page(request, found)
        if error:
            ctx["error"] = error
        ctx.update(filter=found, reasons=Reason.choices, can_flag=has_role(request.user, POWER_USER),
                   here=request.get_full_path())
        return self.render_to_response(ctx, status=status)


class MyFlagsView(RoleRequiredMixin, TemplateView):
    allowed_roles = (POWER_USER,)
    template_name = "feedback/my_flags.html"

    def get(self, request, *args, **kwargs):
        found = selectors.my_flags(user=request.user, data=request.GET or None)
        ctx = self.get_context_data(**kwargs)
        ctx["page"], error, status = _filtered_page(request, found)
        if error:
            ctx["error"] = error
        ctx["filter"] = found
        return self.render_to_response(ctx, status=status)


# --- SMEs, compliance, ML engineers --------------------------------------------------------------


def _deployment_filter(request):
    slug = request.GET.get("deployment")
    return drift_selectors.deployment_get(slug=slug, user=request.user) if slug else None


class TriageView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "feedback/triage.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = _deployment_filter(self.request)
        items = selectors.triage_queue(user=self.request.user, deployment=deployment)
        ctx.update(
            deployment=deployment,
            deployments=drift_selectors.deployment_list(user=self.request.user),
            to_label=[i for i in items if i.flag.status == Flag.Status.OPEN],
            to_adjudicate=[i for i in items if i.flag.status == Flag.Status.ADJUDICATION],
            can_act=has_role(self.request.user, SME),
        )
        return ctx


class FlagListView(RoleRequiredMixin, TemplateView):
    """Every flag with its outcome: the record compliance reads."""

    allowed_roles = READERS
    template_name = "feedback/flag_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        status = self.request.GET.get("status") or None
        if status not in Flag.Status.values:
            status = None
        deployment = _deployment_filter(self.request)
        # Paged with counts, never cut: 50 a page (the pager keeps the filters).
        page = _page(self.request, selectors.flag_list(deployment=deployment, status=status, viewer=self.request.user))
        ctx.update(
            flags=page,
            page=page,
            status=status,
            statuses=Flag.Status.choices,
            deployment=deployment,
            deployments=drift_selectors.deployment_list(user=self.request.user),
        )
        return ctx


class FlagDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "feedback/flag_detail.html"

    def get_context_data(self, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(flag_context(self.request, selectors.flag_get(flag_id=pk, user=self.request.user)))
        return ctx


def flag_context(request, flag: Flag, *, form: dict | None = None) -> dict:
    user = request.user
    now = timezone.now()
    is_sme = has_role(user, SME, team=flag.deployment.team_id)  # in the flag's team, not any team (issue 14)
    labels = list(flag.labels.all())
    labelled_by_me = any(lab.sme_id == user.pk for lab in labels)
    claimed_by_me = flag.claimed_by_id == user.pk and flag.claim_active(now)
    prompt_html, prompt_pii = highlight_pii(flag.sample.prompt)
    response_html, response_pii = highlight_pii(flag.sample.response)
    corrected = services.corrected_answer_for(flag) if flag.status == Flag.Status.RESOLVED else ""
    promotion = getattr(flag, "promotion", None)
    can_promote = is_sme and flag.is_confirmed and promotion is None
    # The approved golden answer to the same or the most similar question: what the answer should have said.
    approved = golden_selectors.golden_nearest_to_sample(sample=flag.sample, statuses=("approved",), limit=1)
    ctx = {
        "flag": flag,
        "sample": flag.sample,
        "labels": labels,
        "adjudication": getattr(flag, "adjudication", None),
        "other_flags": selectors.flag_others(flag=flag),
        "verdicts": LabelChoice.choices,
        "is_sme": is_sme,
        "claimed_by_me": claimed_by_me,
        "claimed_by_other": flag.claim_active(now) and not claimed_by_me,
        "can_claim": is_sme and flag.status != Flag.Status.RESOLVED and not flag.claim_active(now)
        and not (flag.status == Flag.Status.OPEN and labelled_by_me),
        "can_label": is_sme and claimed_by_me and flag.status == Flag.Status.OPEN and not labelled_by_me,
        "can_adjudicate": is_sme and claimed_by_me and flag.status == Flag.Status.ADJUDICATION,
        "can_promote": can_promote,
        "golden_match": approved[0] if approved else None,
        # Before promoting: live golden items asking much the same (a duplicate check, by embedding).
        "similar_golden": golden_selectors.golden_nearest_to_sample(sample=flag.sample, limit=5) if can_promote else [],
        "duplicate_similarity": NEAR_DUPLICATE_SIMILARITY,
        "prompt_html": prompt_html,
        "response_html": response_html,
        "pii": [("prompt", f) for f in prompt_pii] + [("response", f) for f in response_pii],
        "corrected_answer": corrected,
        "promotion": promotion,
        "breadcrumbs": [("Home", reverse("home")),
                        ("Triage", reverse("feedback:triage")) if is_sme else ("Flags", reverse("feedback:flag-list")),
                        (f"Flag #{flag.pk}", "")],
        "form": form or {"prompt": flag.sample.prompt, "reference_answer": corrected, "category": "", "reason": ""},
    }
    if corrected:
        ctx["corrected_html"], corrected_pii = highlight_pii(corrected)
        ctx["pii"] += [("corrected answer", f) for f in corrected_pii]
    if promotion is not None:
        item = promotion.golden_item
        item_prompt_html, item_prompt_pii = highlight_pii(item.prompt)
        item_answer_html, item_answer_pii = highlight_pii(item.reference_answer)
        ctx.update(
            item=item,
            item_prompt_html=item_prompt_html,
            item_answer_html=item_answer_html,
            item_pii=item_prompt_pii + item_answer_pii,
            can_submit=is_sme and item.status == "draft",
        )
    return ctx


class _FlagAction(RoleRequiredMixin, View):
    """POST-only SME actions on one flag; refusals re-render the flag page with the reason and a 4xx."""

    allowed_roles = (SME,)
    http_method_names = ["post"]
    done_message = ""

    def post(self, request, pk: int):
        flag = selectors.flag_get(flag_id=pk, user=request.user)
        try:
            message = self.act(flag, request.POST)
        except services.FeedbackError as exc:
            return self.refuse(request, flag, exc.status, exc.message)
        messages.success(request, message or self.done_message)
        return HttpResponseRedirect(self.success_url(flag))

    def success_url(self, flag: Flag) -> str:
        return reverse("feedback:flag-detail", args=[flag.pk])

    def refuse(self, request, flag: Flag, status: int, message: str, form: dict | None = None):
        ctx = flag_context(request, selectors.flag_get(flag_id=flag.pk, user=request.user), form=form)
        ctx["error"] = message
        return render(request, "feedback/flag_detail.html", ctx, status=status)

    def act(self, flag: Flag, data) -> str:
        raise NotImplementedError


class ClaimView(_FlagAction):
    def act(self, flag, data):
        flag = services.flag_claim(flag=flag, user=self.request.user)
        return f"Flag {flag.pk} is yours until {flag.claimed_until:%H:%M} UTC."


class ReleaseView(_FlagAction):
    done_message = "Claim released."

    def act(self, flag, data):
        services.flag_release(flag=flag, user=self.request.user)

    def success_url(self, flag):
        return reverse("feedback:triage")


class LabelView(_FlagAction):
    def act(self, flag, data):
        services.flag_label(
            flag=flag, user=self.request.user, label=data.get("label", ""),
            comment=data.get("comment", ""), corrected_answer=data.get("corrected_answer", ""),
        )
        return f"Label saved on flag {flag.pk}."

    def success_url(self, flag):
        return reverse("feedback:triage")


class AdjudicateView(_FlagAction):
    def act(self, flag, data):
        services.flag_adjudicate(
            flag=flag, user=self.request.user, label=data.get("label", ""),
            comment=data.get("comment", ""), corrected_answer=data.get("corrected_answer", ""),
        )
        return f"Flag {flag.pk} adjudicated; the final label is {LabelChoice(data.get('label')).label}."


class PromoteView(_FlagAction):
    def post(self, request, pk: int):
        flag = selectors.flag_get(flag_id=pk, user=request.user)
        form = {k: request.POST.get(k, "") for k in ("prompt", "reference_answer", "category", "reason", "tags")}
        tags = [t.strip() for t in form["tags"].split(",") if t.strip()]
        form["not_duplicate"] = request.POST.get("not_duplicate", "")
        # The duplicate check runs on the prompt as submitted (the SME may have edited it).
        near = [(item, sim) for item, sim in golden_selectors.golden_nearest_to_text(
                    text=form["prompt"], team=flag.sample.deployment.team_id, limit=3)
                if sim >= NEAR_DUPLICATE_SIMILARITY]
        if near and not form["not_duplicate"]:
            listed = "; ".join(f"#{item.pk} “{item.prompt[:80]}” ({item.get_status_display().lower()}, "
                               f"similarity {sim:.2f})" for item, sim in near)
            return self.refuse(request, flag, 409, "The golden set already has nearly the same question: "
                               f"{listed}. Improve that item instead, or tick “This is not a duplicate” "
                               "and promote again.", form=form)
        reason = form["reason"]
        if near:
            reason = (f"{reason} (promoted although #{near[0][0].pk} is similar at {near[0][1]:.2f}: "
                      "the SME confirmed it is not a duplicate)")
        try:
            promotion = services.flag_promote(
                flag=flag, user=request.user, category=form["category"], reason=reason,
                prompt=form["prompt"], reference_answer=form["reference_answer"], tags=tags,
            )
        except services.FeedbackError as exc:
            return self.refuse(request, flag, exc.status, exc.message, form=form)
        messages.success(
            request, f"Flag {flag.pk} is now draft golden item #{promotion.golden_item_id}. "
            "Redact or acknowledge any highlighted personal data, then submit it for review.",
        )
        return HttpResponseRedirect(self.success_url(flag))


class SubmitPromotionView(_FlagAction):
    """Send the promoted draft to review; goldenset refuses while unacknowledged personal data remains."""

    def act(self, flag, data):
        from goldenset import services as golden

        promotion = getattr(flag, "promotion", None)
        if promotion is None:
            raise services.Conflict(f"Flag {flag.pk} has not been promoted.")
        reason = (data.get("reason") or "").strip()
        if not reason:
            raise services.FeedbackError("Say why the item is ready for review.")
        try:
            if data.get("acknowledge_pii"):
                golden.golden_item_acknowledge_pii(item=promotion.golden_item, user=self.request.user, reason=reason)
            golden.golden_item_submit(item=promotion.golden_item, user=self.request.user, reason=reason)
        except ValidationError as exc:
            raise services.Conflict("; ".join(exc.messages)) from None
        return f"Golden item #{promotion.golden_item_id} is submitted for review."


class AgreementView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "feedback/agreement.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = _deployment_filter(self.request)
        ctx.update(
            report=selectors.agreement_report(deployment=deployment, viewer=self.request.user),
            deployment=deployment,
            deployments=drift_selectors.deployment_list(user=self.request.user),
            adjudications=selectors.adjudicated_flags(deployment=deployment, viewer=self.request.user),
        )
        return ctx


class MetricsView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "feedback/metrics.html"

    def get_context_data(self, slug: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = drift_selectors.deployment_get(slug=slug, user=self.request.user)
        # One week everywhere: the deployment's own windows (ISO weeks from Monday 00:00 UTC, days from
        # midnight UTC), so "the same week" here and on the dashboard counts the same samples and flags.
        default = deployment.drift_window if deployment.drift_window in selectors.WINDOWS else "daily"
        window = self.request.GET.get("window") if self.request.GET.get("window") in selectors.WINDOWS else default
        count = {"daily": 14, "weekly": 8}[window]
        end = timezone.now()
        start = drift_selectors.window_floor(window=window, at=end) - selectors.WINDOWS[window] * (count - 1)
        ctx.update(
            deployment=deployment,
            window=window,
            series=selectors.feedback_metrics_series(deployment=deployment, start=start, end=end, window=window),
            total=selectors.feedback_metrics(deployment=deployment, start=start, end=end),
        )
        return ctx
