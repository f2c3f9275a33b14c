"""SME pages of the golden set. Every page names its roles: SMEs edit; power users, compliance
officers and ML engineers read; ML engineers start evaluation runs."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from drift_app import confirm
from drift_app import selectors as drift_selectors
from drift_app.roles import (
    COMPLIANCE,
    ML_ENGINEER,
    POWER_USER,
    SME,
    RoleRequiredMixin,
    has_role,
)
from drift_app.validation import loads_strict, parse_id_list, safe_next_url

from . import selectors, services
from .models import EvalRun, GoldenItem
from .pii import find_pii

READERS = (SME, POWER_USER, COMPLIANCE, ML_ENGINEER)


def _error_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k.replace('_', ' ')}: {' '.join(m for e in v for m in e.messages)}" for k, v in exc.error_dict.items())
    return " ".join(exc.messages)


def highlight(text: str) -> list[tuple[str, str | None]]:
    """Split text into (segment, pii_kind or None) for the PII highlight."""
    out, pos = [], 0
    for f in find_pii(text):
        if f.start > pos:
            out.append((text[pos:f.start], None))
        out.append((text[f.start:f.end], f.kind))
        pos = f.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def _parse_list(value: str) -> list[str]:
    return [t.strip() for t in value.replace("\n", "|").replace(",", "|").split("|") if t.strip()]


def _item_fields_from_post(post) -> dict:
    acceptance = {
        "must_include": [t.strip() for t in post.get("must_include", "").split("|") if t.strip()],
        "must_not_include": [t.strip() for t in post.get("must_not_include", "").split("|") if t.strip()],
        "regex": post.get("regex", "").strip(),
    }
    return {
        "prompt": post.get("prompt", ""), "reference_answer": post.get("reference_answer", ""),
        "category": post.get("category", ""), "tags": _parse_list(post.get("tags", "")),
        "acceptance": {k: v for k, v in acceptance.items() if v},
    }


class ItemListView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/item_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        g = self.request.GET
        filters = {k: g.get(k, "").strip() for k in ("q", "status", "category", "tag", "source")}
        team = selectors.golden_team(user=self.request.user, slug=g.get("team", ""))
        items = selectors.golden_item_list(user=self.request.user, team=team, **filters).order_by("-updated_at", "-id")
        ctx.update(
            filters=filters, page=Paginator(items, 50).get_page(g.get("page")), total=items.count(), team=team,
            teams=drift_selectors.teams_acting(user=self.request.user).order_by("slug"),
            categories=selectors.golden_categories(user=self.request.user, team=team), statuses=GoldenItem.Status.choices,
            sources=GoldenItem.Source.choices, latest_version=selectors.golden_version_latest(team=team),
            querystring="&".join(f"{k}={v}" for k, v in filters.items() if v),
        )
        return ctx


class ItemCreateView(RoleRequiredMixin, TemplateView):
    allowed_roles = (SME,)
    template_name = "goldenset/item_form.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.setdefault("values", {})
        ctx["categories"] = selectors.golden_categories(user=self.request.user)
        ctx["teams"] = drift_selectors.teams_acting(user=self.request.user).order_by("slug")
        return ctx

    def post(self, request):
        fields = _item_fields_from_post(request.POST)
        slug = request.POST.get("team", "")
        team = selectors.golden_team(user=request.user, slug=slug) if slug else None
        try:
            item = services.golden_item_create(author=request.user, reason=request.POST.get("reason", ""), team=team,
                                               **fields)
        except ValidationError as exc:
            return self.render_to_response(self.get_context_data(error=_error_text(exc), values=request.POST))
        messages.success(request, f"Draft #{item.pk} created. Submit it for review when it is ready.")
        return redirect("goldenset:item-detail", pk=item.pk)


class ItemEditView(RoleRequiredMixin, TemplateView):
    allowed_roles = (SME,)
    template_name = "goldenset/item_form.html"

    def get_context_data(self, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        item = selectors.golden_item_get(pk=pk, user=self.request.user)
        if "values" not in ctx:
            acc = item.acceptance or {}
            ctx["values"] = {
                "prompt": item.prompt, "reference_answer": item.reference_answer, "category": item.category,
                "tags": ", ".join(item.tags), "must_include": "|".join(acc.get("must_include", [])),
                "must_not_include": "|".join(acc.get("must_not_include", [])), "regex": acc.get("regex", ""),
            }
        ctx.update(item=item, categories=selectors.golden_categories(user=self.request.user, team=item.team))
        return ctx

    def post(self, request, pk: int):
        item = selectors.golden_item_get(pk=pk, user=self.request.user)
        try:
            services.golden_item_update(item=item, user=request.user, reason=request.POST.get("reason", ""),
                                        **_item_fields_from_post(request.POST))
        except ValidationError as exc:
            return self.render_to_response(self.get_context_data(pk=pk, error=_error_text(exc), values=request.POST))
        messages.success(request, f"Item #{pk} saved as a new draft revision.")
        return redirect("goldenset:item-detail", pk=pk)


ITEM_ACTIONS = {
    "submit": (services.golden_item_submit, "submitted for review"),
    "approve": (services.golden_item_approve, "approved; a new golden-set version was cut"),
    "reject": (services.golden_item_reject, "sent back to draft"),
    "retire": (services.golden_item_retire, "retired"),
    "acknowledge_pii": (services.golden_item_acknowledge_pii, "PII acknowledged"),
}


RETIRE_CONSEQUENCE = ("Retiring takes the item out of the next golden-set version: later evaluations no longer "
                      "score it, and comparisons with earlier runs count it as retired. It cannot be brought back; "
                      "a replacement is a new item.")
BASELINE_CONSEQUENCE = ("Every later evaluation of this deployment is compared with this run: relative drops, "
                        "code-red and review alerts and the reports' material-degradation test all change reference.")


class ItemDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/item_detail.html"

    def get_context_data(self, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        item = selectors.golden_item_get(pk=pk, user=self.request.user)
        ctx.update(
            item=item, history=selectors.golden_item_history(item=item),
            prompt_segments=highlight(item.prompt), answer_segments=highlight(item.reference_answer),
            pii=[f for fs in services.item_pii(item).values() for f in fs],
            pii_blocks=services.item_pii_blocks(item), similar=selectors.golden_item_similar(item=item),
            can_edit=has_role(self.request.user, SME, team=item.team_id),
            is_author=item.author_id == self.request.user.pk,
            breadcrumbs=[("Home", reverse("home")), ("Golden set", reverse("goldenset:item-list")),
                         (f"Item #{item.pk}", "")],
        )
        return ctx

    def post(self, request, pk: int):
        item = selectors.golden_item_get(pk=pk, user=self.request.user)
        if not has_role(request.user, SME, team=item.team_id):
            return HttpResponse("Only subject-matter experts of the item's team change golden items.", status=403)
        action = request.POST.get("action", "")
        if action not in ITEM_ACTIONS:
            return HttpResponse(f"Unknown action {action!r}.", status=400)
        service, done = ITEM_ACTIONS[action]
        if action == "retire" and not confirm.confirmed(request):
            return confirm.confirmation_page(
                request, title=f"Retire golden item #{pk}", consequence=RETIRE_CONSEQUENCE, action_label="Retire the item",
                cancel_url=reverse("goldenset:item-detail", args=[pk]))
        try:
            service(item=item, user=request.user, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, f"Item #{pk} {done}.")
        # Only a same-host `next`: anything else would be an open redirect.
        return HttpResponseRedirect(safe_next_url(request, request.POST.get("next"),
                                                  reverse("goldenset:item-detail", args=[pk])))


class ReviewQueueView(RoleRequiredMixin, TemplateView):
    allowed_roles = (SME,)
    template_name = "goldenset/review_queue.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        items = list(selectors.golden_review_queue(user=self.request.user))
        # Bulk approval needs what the item page shows: its acceptance criteria and the items it resembles.
        for item in items:
            item.similar = selectors.golden_item_similar(item=item, limit=3)
        ctx["items"] = items
        ctx["duplicate_similarity"] = services.NEAR_DUPLICATE_SIMILARITY
        return ctx

    def post(self, request):
        try:
            ids = parse_id_list(request.POST.getlist("items"), name="items")
        except ValueError as exc:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        items = selectors.golden_items_by_ids(ids=ids, user=request.user)
        try:
            version = services.golden_items_approve(items=items, user=request.user, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, f"{len(items)} item(s) approved: golden set version {version.number}.")
        return redirect("goldenset:review-queue")


class VersionListView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/version_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        team = selectors.golden_team(user=self.request.user, slug=self.request.GET.get("team", ""))
        ctx.update(team=team, versions=selectors.golden_version_list(team=team)[:500],
                   teams=drift_selectors.teams_acting(user=self.request.user).order_by("slug"))
        return ctx


class VersionDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/version_detail.html"

    def get_context_data(self, number: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        team = selectors.golden_team(user=self.request.user, slug=self.request.GET.get("team", ""))
        version = selectors.golden_version_get(number=number, team=team)
        ctx.update(version=version, items=version.items.all())
        return ctx


class VersionDiffView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/version_diff.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        try:
            old, new = int(self.request.GET.get("old", "")), int(self.request.GET.get("new", ""))
        except ValueError:
            raise Http404("Pick two versions to compare.") from None
        team = selectors.golden_team(user=self.request.user, slug=self.request.GET.get("team", ""))
        ctx["diff"] = selectors.golden_version_diff(old=selectors.golden_version_get(number=old, team=team),
                                                    new=selectors.golden_version_get(number=new, team=team))
        ctx["versions"] = selectors.golden_version_list(team=team)[:500]
        ctx["team"] = team
        return ctx


class ImportView(RoleRequiredMixin, TemplateView):
    allowed_roles = (SME,)
    template_name = "goldenset/import.html"

    def post(self, request):
        upload = request.FILES.get("file")
        if upload is None:
            return self.render_to_response(self.get_context_data(error="Choose a .jsonl or .csv file."))
        fmt = upload.name.rsplit(".", 1)[-1].lower()
        if fmt not in ("jsonl", "csv"):
            return self.render_to_response(self.get_context_data(error="The file must end in .jsonl or .csv."))
        try:
            content = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            return self.render_to_response(self.get_context_data(error="The file is not UTF-8 text."))
        try:
            accept = parse_id_list(_parse_list(request.POST.get("accept_duplicate_rows", "")), name="accept_duplicate_rows")
        except ValueError as exc:
            return self.render_to_response(self.get_context_data(error=str(exc)))
        try:
            slug = request.POST.get("team", "")
            report = services.golden_import(user=request.user, fmt=fmt, content=content,
                                            reason=request.POST.get("reason", ""), accept_duplicate_rows=accept,
                                            team=selectors.golden_team(user=request.user, slug=slug) if slug else None)
        except ValidationError as exc:
            return self.render_to_response(self.get_context_data(error=_error_text(exc)))
        return self.render_to_response(self.get_context_data(report=report, filename=upload.name))


class ExportView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS

    def get(self, request, fmt: str):
        if fmt not in ("jsonl", "csv"):
            raise Http404("Unknown format.")
        team = selectors.golden_team(user=request.user, slug=request.GET.get("team", ""))
        items = selectors.golden_item_list(user=request.user, team=team, status=request.GET.get("status", "")).order_by("id")
        response = HttpResponse(services.golden_export(fmt=fmt, items=items),
                                content_type="application/x-ndjson" if fmt == "jsonl" else "text/csv")
        response["Content-Disposition"] = f'attachment; filename="golden-set.{fmt}"'
        return response


class RunListView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/run_list.html"

    def get_context_data(self, slug: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = drift_selectors.deployment_get(slug=slug, user=self.request.user)
        ctx.update(deployment=deployment, runs=selectors.eval_run_list(deployment=deployment)[:200],
                   config=services.eval_config_get(deployment=deployment),
                   can_run=has_role(self.request.user, ML_ENGINEER, team=deployment.team_id))
        return ctx

    def post(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        if not has_role(request.user, ML_ENGINEER, team=deployment.team_id):
            return HttpResponse("Only ML engineers of the deployment's team start evaluation runs.", status=403)
        upload = request.FILES.get("answers")
        answers = None
        if upload is not None:
            answers = {}
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                messages.error(request, "Answers file: the file is not UTF-8 text.")
                return redirect("goldenset:run-list", slug=slug)
            n = 0
            try:
                for n, line in enumerate(text.splitlines(), start=1):
                    if line.strip():
                        rec = loads_strict(line)
                        answers[int(rec["golden_item_id"])] = rec["answer"]
            except (ValueError, KeyError, TypeError, OverflowError) as exc:
                messages.error(request, f"Answers file, line {n}: expected JSON {{\"golden_item_id\", \"answer\"}} ({exc}).")
                return redirect("goldenset:run-list", slug=slug)
        try:
            run = services.eval_run_create(deployment=deployment, user=request.user, answers=answers,
                                           model_version=request.POST.get("model_version") or None,
                                           trigger=EvalRun.Trigger.PAGE)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("goldenset:run-list", slug=slug)
        messages.success(request, f"Run {run.pk} queued.")
        return redirect("goldenset:run-detail", pk=run.pk)


def _power(run) -> dict | None:
    """The smallest relative drop this golden set detects (exact McNemar, 80% power) at this run's pass rate."""
    from drift_app.stats import verdict_rules

    scored = run.passed_count + run.failed_count
    if not scored or run.pass_rate is None:
        return None
    review = run.deployment.review_drop_pct
    mdd = verdict_rules.min_detectable_drop_pct(run.item_count, run.pass_rate)
    return {"min_detectable_drop_pct": mdd, "review_drop_pct": review,
            "enough": mdd is not None and mdd <= review,
            "items_needed": verdict_rules.items_needed(run.pass_rate, review)}


class RunDetailView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/run_detail.html"

    def get_context_data(self, pk: int, **kwargs):
        ctx = super().get_context_data(**kwargs)
        run = selectors.eval_run_get(pk=pk, user=self.request.user)
        baseline_rates = run.baseline_run.category_pass_rates if run.baseline_run else {}
        categories = [(c, rate, baseline_rates.get(c), run.category_counts.get(c, {}))
                      for c, rate in run.category_pass_rates.items()]
        ctx.update(run=run, results=selectors.eval_result_list(run=run), categories=categories,
                   can_run=has_role(self.request.user, ML_ENGINEER, team=run.deployment.team_id), power=_power(run),
                   calibration=selectors.judge_calibration_status(
                       deployment=run.deployment, judge_model=run.judge_model,
                       judge_prompt_version=run.judge_prompt_version) if run.judge_model else None,
                   breadcrumbs=[("Home", reverse("home")), ("Evaluations", reverse("goldenset:deployments")),
                                (run.deployment.name, reverse("goldenset:run-list", args=[run.deployment.slug])),
                                (f"Run #{run.pk}", "")])
        return ctx

    def post(self, request, pk: int):
        run = selectors.eval_run_get(pk=pk, user=request.user)
        if not has_role(request.user, ML_ENGINEER, team=run.deployment.team_id):
            return HttpResponse("Only ML engineers of the deployment's team choose the baseline.", status=403)
        if not confirm.confirmed(request):
            return confirm.confirmation_page(
                request, title=f"Make run #{pk} the baseline of {run.deployment.name}", consequence=BASELINE_CONSEQUENCE,
                action_label="Make it the baseline", cancel_url=reverse("goldenset:run-detail", args=[pk]))
        try:
            services.eval_run_set_baseline(run=run, user=request.user, reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, f"Run {pk} is now the baseline of {run.deployment.name}.")
        return redirect("goldenset:run-detail", pk=pk)


class RunRetryView(RoleRequiredMixin, View):
    """The page action behind "Retry" on a failed evaluation run (POST only; audited through the run's save)."""

    allowed_roles = (ML_ENGINEER,)
    http_method_names = ["post"]

    def post(self, request, pk: int):
        run = selectors.eval_run_get(pk=pk, user=request.user)
        try:
            services.eval_run_retry(run=run, user=request.user)
        except services.RetryRefused as exc:
            messages.error(request, f"Not retried: {exc}.")
        else:
            messages.success(request, f"Run {pk} queued again; it resumes with the answers it already has.")
        return redirect("goldenset:run-detail", pk=pk)


class CoverageView(RoleRequiredMixin, TemplateView):
    allowed_roles = READERS
    template_name = "goldenset/coverage.html"

    def get_context_data(self, slug: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = drift_selectors.deployment_get(slug=slug, user=self.request.user)
        # Computed on a worker and cached per window (goldenset/services/coverage.py); the page polls until ready.
        report = services.coverage_gaps_cached(deployment=deployment)
        if report is None:
            services.coverage_gaps_request(deployment=deployment)
        ctx.update(deployment=deployment, report=report, working=report is None,
                   can_refresh=has_role(self.request.user, SME, ML_ENGINEER, team=deployment.team_id),
                   golden_vectors=selectors.golden_embedding_counts(team=deployment.team_id))
        return ctx

    def post(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        if not has_role(request.user, SME, ML_ENGINEER, team=deployment.team_id):
            return HttpResponse("Only SMEs and ML engineers of the deployment's team recompute coverage gaps.",
                                status=403)
        services.coverage_gaps_request(deployment=deployment, force=True)
        messages.success(request, "Coverage gaps are being recomputed; this page updates itself.")
        return redirect("goldenset:coverage", slug=deployment.slug)


class DeploymentIndexView(RoleRequiredMixin, TemplateView):
    """Evaluation and coverage entry points per deployment."""

    allowed_roles = READERS
    template_name = "goldenset/deployments.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        rows = []
        for d in drift_selectors.deployment_list(user=self.request.user):
            rows.append((d, selectors.eval_latest_run(deployment=d), selectors.eval_baseline_run(deployment=d)))
        ctx["rows"] = rows
        return ctx


class JudgeCalibrationView(RoleRequiredMixin, TemplateView):
    """The judge's agreement with SMEs per judge series; SMEs mark a sample of judged items themselves."""

    allowed_roles = READERS
    template_name = "goldenset/judge_calibration.html"

    def get_context_data(self, slug: str, **kwargs):
        ctx = super().get_context_data(**kwargs)
        deployment = drift_selectors.deployment_get(slug=slug, user=self.request.user)
        is_sme = has_role(self.request.user, SME, team=deployment.team_id)
        ctx.update(deployment=deployment, series=selectors.judge_calibration(deployment=deployment), is_sme=is_sme,
                   queue=selectors.judge_calibration_queue(deployment=deployment, user=self.request.user) if is_sme else [])
        return ctx

    def post(self, request, slug: str):
        deployment = drift_selectors.deployment_get(slug=slug, user=request.user)
        if not has_role(request.user, SME, team=deployment.team_id):
            raise Http404
        verdict = request.POST.get("passed")
        try:
            result = selectors.eval_result_get(deployment=deployment, pk=int(request.POST.get("result", "0")))
            if verdict not in ("pass", "fail"):
                raise ValidationError({"passed": "choose pass or fail"})
            services.judge_calibration_label(result=result, user=request.user, passed=verdict == "pass",
                                             note=request.POST.get("note", ""))
            messages.success(request, f"Your label on item #{result.item_id} is stored.")
        except (ValidationError, ValueError) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("goldenset:judge-calibration", slug=slug)
