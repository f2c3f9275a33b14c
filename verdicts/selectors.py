"""Reads for verdicts and alerts: lists, the evidence a verdict is computed from, dashboard data."""

from __future__ import annotations

import datetime as dt

import numpy as np
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.urls import reverse

from drift_app import selectors as drift_selectors
from drift_app.models import Baseline, Deployment, DriftRun, ProductionSample
from drift_app import stats as drift_stats
from drift_app.stats import projection as mapping

from .models import Alert, AlertDelivery, AlertPolicy, RetrainingAdvice, Verdict


def policy_get(*, deployment: Deployment) -> AlertPolicy:
    """The deployment's alert policy, or an unsaved one with the defaults."""
    return AlertPolicy.objects.filter(deployment=deployment).first() or AlertPolicy(deployment=deployment)


def verdict_list(
    *, deployment: Deployment | None, start: dt.datetime | None = None, end: dt.datetime | None = None,
    verdict_class: str | None = None, material_only: bool = False, viewer=None,
) -> QuerySet[Verdict]:
    """Verdicts whose window overlaps [start, end), oldest first (current versions only). deployment=None: every
    deployment (of the viewer's teams when `viewer` is given)."""
    qs = Verdict.objects.select_related("deployment").filter(superseded_at__isnull=True)
    if viewer is not None:
        qs = qs.filter(deployment__in=drift_selectors.deployments_visible(user=viewer))
    if verdict_class:
        qs = qs.filter(verdict_class=verdict_class)
    if material_only:
        qs = qs.filter(material_degradation=True)
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    if start is not None:
        qs = qs.filter(window_end__gt=start)
    if end is not None:
        qs = qs.filter(window_start__lt=end)
    return qs.order_by("window_start", "id")


def verdict_get(*, pk: int, user) -> Verdict:
    return get_object_or_404(Verdict.objects.select_related("deployment")
                             .filter(deployment__in=drift_selectors.deployments_visible(user=user)), pk=pk)


def verdict_latest(*, deployment: Deployment) -> Verdict | None:
    return Verdict.objects.filter(deployment=deployment, superseded_at__isnull=True).order_by("-window_start").first()


def alert_list(
    *, deployment: Deployment | None, start: dt.datetime | None = None, end: dt.datetime | None = None,
    status: str | None = None, tier: str | None = None, open_only: bool = False, viewer=None,
) -> QuerySet[Alert]:
    """Alerts open at any time in [start, end), newest first. deployment=None: every deployment (of the
    viewer's teams when `viewer` is given)."""
    qs = Alert.objects.select_related(
        "deployment", "opened_by_verdict", "acknowledged_by", "resolved_by"
    )
    if viewer is not None:
        qs = qs.filter(deployment__in=drift_selectors.deployments_visible(user=viewer))
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    if start is not None:
        qs = qs.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start))
    if end is not None:
        qs = qs.filter(opened_at__lt=end)
    if status:
        qs = qs.filter(status=status)
    if tier:
        qs = qs.filter(tier=tier)
    if open_only:
        qs = qs.filter(closed_at__isnull=True)
    return qs.order_by("-opened_at", "-id")


def alert_list_for_windows(*, deployment: Deployment | None, start: dt.datetime, end: dt.datetime) -> QuerySet[Alert]:
    """Alerts concerning [start, end): opened by a window overlapping it, or still open during it.

    An alert belongs to the window whose verdict opened it, not to when it was computed: a report of
    the week that went code red lists that code red even if the verdict ran the next Monday.
    """
    qs = Alert.objects.select_related("deployment", "opened_by_verdict", "acknowledged_by", "resolved_by")
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    concerning = Q(window_start__lt=end, window_end__gt=start)
    # Alerts stored before windows were recorded fall back to when they were open.
    legacy = Q(window_start__isnull=True, opened_at__lt=end) & (Q(closed_at__isnull=True) | Q(closed_at__gte=start))
    still_open = Q(window_start__lt=start) & (Q(closed_at__isnull=True) | Q(closed_at__gte=start))
    return qs.filter(concerning | legacy | still_open).order_by("window_start", "opened_at", "id")


def alert_get(*, pk: int, user) -> Alert:
    return get_object_or_404(
        Alert.objects.select_related("deployment", "opened_by_verdict", "last_verdict", "acknowledged_by", "resolved_by")
        .filter(deployment__in=drift_selectors.deployments_visible(user=user)),
        pk=pk,
    )


def alert_open_get(*, deployment: Deployment, signal: str) -> Alert | None:
    return Alert.objects.filter(deployment=deployment, signal=signal, closed_at__isnull=True).first()


def alert_delivery_list(*, alert: Alert) -> QuerySet[AlertDelivery]:
    return alert.deliveries.order_by("at", "id")


def retraining_advice_list(*, deployment: Deployment | None = None, viewer=None) -> QuerySet[RetrainingAdvice]:
    qs = RetrainingAdvice.objects.select_related("deployment", "verdict").filter(verdict__superseded_at__isnull=True)
    if viewer is not None:
        qs = qs.filter(deployment__in=drift_selectors.deployments_visible(user=viewer))
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    return qs.order_by("-verdict__window_start", "-id")


def retraining_advice_get(*, pk: int, user) -> RetrainingAdvice:
    return get_object_or_404(RetrainingAdvice.objects.select_related("deployment", "verdict")
                             .filter(deployment__in=drift_selectors.deployments_visible(user=user)), pk=pk)


# --- Evidence for a verdict ---------------------------------------------------------------------


def window_model_versions(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """The model versions that served the window's traffic, with their sample counts (largest first)."""
    rows = (ProductionSample.objects.filter(deployment=deployment, client_timestamp__gte=start, client_timestamp__lt=end)
            .values("model_version").annotate(n=Count("id")).order_by("-n", "model_version"))
    return {r["model_version"]: r["n"] for r in rows}


def _runs_of(deployment: Deployment, model_version: str):
    from goldenset import selectors as golden_selectors
    from goldenset.models import EvalRun

    # Freshness is judged by when the answers were produced (uploaded answers may state it), else by
    # when the evaluation finished.
    return (golden_selectors.eval_run_list(deployment=deployment)
            .filter(model_version=model_version, status=EvalRun.Status.SUCCEEDED)
            .annotate(evidence_at=Coalesce("answers_produced_at", "finished_at", "started_at", "created_at")))


def golden_run_fresh(*, deployment: Deployment, model_version: str, start: dt.datetime, end: dt.datetime,
                     max_age: dt.timedelta):
    """The evaluation of `model_version` whose answers date from nearest the window, within `max_age` of it.

    Inside the window first (the newest), then the nearest before or after it: an evaluation that lands
    after the window of the same model version is evidence for it (and the window is recomputed).
    """
    candidates = list(_runs_of(deployment, model_version).filter(
        evidence_at__gte=start - max_age, evidence_at__lt=end + max_age).order_by("-evidence_at", "-id")[:50])

    def distance(run) -> float:
        at = run.evidence_at
        return 0.0 if start <= at < end else (start - at).total_seconds() if at < start else (at - end).total_seconds()

    return min(candidates, key=distance) if candidates else None


def golden_run_latest_before(*, deployment: Deployment, model_version: str, end: dt.datetime):
    """The nearest succeeded evaluation of `model_version` before `end`, however old (to say why it is stale)."""
    return _runs_of(deployment, model_version).filter(evidence_at__lt=end).order_by("-evidence_at", "-id").first()


def golden_baseline_run(*, deployment: Deployment):
    from goldenset import selectors as golden_selectors

    return golden_selectors.eval_baseline_run(deployment=deployment)


def golden_outcomes(*, run) -> dict[int, tuple[int, str, str]]:
    """item id → (revision, outcome, category) of one evaluation run."""
    from goldenset.models import EvalResult

    return {
        item_id: (revision, outcome, category)
        for item_id, revision, outcome, category in EvalResult.objects.filter(run=run).values_list(
            "item_id", "version_item__revision", "outcome", "version_item__category")
    }


def golden_run_requested(*, deployment: Deployment, model_version: str, since: dt.datetime):
    """A scheduled evaluation of `model_version` created since `since` that is still pending or running."""
    from goldenset.models import EvalRun

    return (EvalRun.objects.filter(deployment=deployment, model_version=model_version, created_at__gte=since,
                    status__in=[EvalRun.Status.PENDING, EvalRun.Status.RUNNING])
            .order_by("-created_at").first())


def golden_can_evaluate(*, deployment: Deployment) -> bool:
    """Whether the deployment can have a golden evaluation queued: an endpoint (scheduled or not)."""
    from goldenset.services import eval_config_get

    return eval_config_get(deployment=deployment).has_endpoint


def verdict_versions(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> QuerySet[Verdict]:
    """Every version of a window's verdict, newest first (superseded ones included)."""
    return Verdict.objects.filter(deployment=deployment, window_start=start, window_end=end).order_by("-version", "-id")


def verdict_grid(*, deployment: Deployment, end: dt.datetime, step: dt.timedelta, windows: int) -> list[Verdict | None]:
    """The current verdicts of the `windows` grid windows ending at `end`, oldest first; None where none exists."""
    starts = []
    for k in range(windows):
        try:
            starts.append(end - step * (k + 1))
        except OverflowError:  # windows before the year 1 do not exist (and hold no verdict)
            break
    starts.reverse()
    found = {v.window_start: v for v in Verdict.objects.filter(
        deployment=deployment, superseded_at__isnull=True, window_start__in=starts, window_end__in=[s + step for s in starts],
    )}
    return [None] * (windows - len(starts)) + [found.get(s) for s in starts]


def drift_runs_for_window(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> dict[str, DriftRun]:
    """The newest drift run per target ("prompts", "responses") of exactly this window."""
    out: dict[str, DriftRun] = {}
    for run in DriftRun.objects.filter(deployment=deployment, window_start=start, window_end=end).order_by("-created_at"):
        out.setdefault(run.target, run)
    return out


def drift_runs_pending(*, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> bool:
    return DriftRun.objects.filter(
        deployment=deployment, window_start=start, window_end=end,
        status__in=[DriftRun.Status.PENDING, DriftRun.Status.RUNNING],
    ).exists()


def feedback_baseline_period(*, deployment: Deployment) -> tuple[dt.datetime, dt.datetime] | None:
    """The period the confirmed-bad rate is compared with: the active drift baseline's."""
    baseline = drift_selectors.baseline_active(deployment=deployment)
    if baseline is None:
        return None
    return baseline.period_start, baseline.period_end


# --- Dashboard ------------------------------------------------------------------------------------


def dashboard_series(*, verdicts: list[Verdict], deployment: Deployment) -> dict:
    """Chart data, one point per verdict window (oldest first), with the thresholds drawn as bands."""
    labels, golden, baseline, flag_rate, bad_rate, bad_base = [], [], [], [], [], []
    js_p, js_p_thr, js_r, js_r_thr, wass_p, wass_r, mmd_p, mmd_r, novel = [], [], [], [], [], [], [], [], []
    timeline = []
    for v in verdicts:
        labels.append(f"{v.window_start:%Y-%m-%d}")
        g = v.inputs.get("golden") or {}
        golden.append(_percent_or_none(v.golden_pass_rate))
        baseline.append(_percent_or_none(v.baseline_pass_rate))
        f = v.inputs.get("flags") or {}
        flag_rate.append(_percent_or_none(f.get("flag_rate")))
        test = f.get("test") or {}
        bad_rate.append(_percent_or_none(f.get("confirmed_bad_rate")))
        bad_base.append(_percent_or_none(test.get("rate_base")))
        d = v.inputs.get("drift") or {}
        p, r = d.get("prompts") or {}, d.get("responses") or {}
        js_p.append(p.get("js")); js_p_thr.append(p.get("js_threshold"))
        js_r.append(r.get("js")); js_r_thr.append(r.get("js_threshold"))
        wass_p.append(p.get("wasserstein")); wass_r.append(r.get("wasserstein"))
        mmd_p.append(p.get("mmd_p_value")); mmd_r.append(r.get("mmd_p_value"))
        novel.append(_percent_or_none(p.get("novel_share")))
        timeline.append({
            "id": v.pk, "label": labels[-1], "class": v.verdict_class, "class_label": v.get_verdict_class_display(), "explanation": v.explanation,
            "tier": g.get("tier"), "material": v.material_degradation,
        })
    review_line = [None if b is None else round(b * (1 - deployment.review_drop_pct / 100), 2) for b in baseline]
    code_red_line = [None if b is None else round(b * (1 - deployment.code_red_drop_pct / 100), 2) for b in baseline]
    return {
        "labels": labels,
        "timeline": timeline,
        "thresholds": {
            "review_drop_pct": deployment.review_drop_pct, "code_red_drop_pct": deployment.code_red_drop_pct,
            "novel_share_alert": deployment.novel_share_alert * 100, "mmd_alpha": deployment.drift_false_alarm_rate,
        },
        "golden": {"pass_rate": golden, "baseline": baseline, "review_line": review_line, "code_red_line": code_red_line},
        "flags": {"flag_rate": flag_rate, "confirmed_bad_rate": bad_rate, "confirmed_bad_baseline": bad_base},
        "js": {"prompts": js_p, "prompts_threshold": js_p_thr, "responses": js_r, "responses_threshold": js_r_thr},
        "wasserstein": {"prompts": wass_p, "responses": wass_r},
        "mmd_p_value": {"prompts": mmd_p, "responses": mmd_r},
        "novel_share": {"prompts": novel},
        "drift": drift_statistic_series(verdicts=verdicts, deployment=deployment),
    }


def drift_statistic_series(*, verdicts: list[Verdict], deployment: Deployment) -> dict:
    """Per drift statistic (by registry name) and target: the value and its calibrated threshold per
    verdict window, and the same for the combined decision and the response-style finding.

    The chart draws each statistic against the threshold that decides (never a p-value against the
    false-alarm rate); ``format`` is how the statistic prints, with digits enough to be true.
    """
    windows = [(v.window_start, v.window_end) for v in verdicts]
    latest: dict[tuple, DriftRun] = {}
    if windows:
        runs = DriftRun.objects.filter(
            deployment=deployment, status=DriftRun.Status.COMPLETED,
            window_start__in={w[0] for w in windows}, window_end__in={w[1] for w in windows},
        ).only("window_start", "window_end", "target", "results", "combined", "created_at").order_by("created_at")
        for run in runs:
            latest[(run.window_start, run.window_end, run.target)] = run
    out: dict[str, dict] = {}
    names = list(drift_stats.registry.names()) + ["combined", "style"]
    for name in names:
        entry = {"label": name, "format": "{:.4f}", "prompts": [], "prompts_threshold": [], "responses": [],
                 "responses_threshold": []}
        if name in drift_stats.registry.names():
            statistic = drift_stats.registry.get(name)
            entry["label"], entry["format"] = statistic.label, statistic.value_format
        elif name == "combined":
            entry["label"], entry["format"] = "Combined decision (largest standardised statistic)", "{:.3f}"
        else:
            entry["label"], entry["format"] = "Response style (largest |z| of length and structure)", "{:.2f}"
        for start, end in windows:
            for target in ("prompts", "responses"):
                run = latest.get((start, end, target))
                result = None
                if run is not None:
                    if name == "combined":
                        result = run.combined or None
                    elif name == "style":
                        result = (run.combined or {}).get("style")
                    else:
                        result = (run.results or {}).get(name)
                entry[target].append(None if result is None else result.get("statistic"))
                entry[f"{target}_threshold"].append(None if result is None else result.get("threshold"))
        out[name] = entry
    return out


def _percent_or_none(value) -> float | None:
    return None if value is None else round(float(value) * 100, 2)


MAP_POINTS = 400


def prompt_map(*, deployment: Deployment, verdict: Verdict | None, seed: int = 0) -> dict:
    """A 2-D PCA map of baseline and window prompt vectors; prompts of new topics highlighted.

    Both sets are capped at MAP_POINTS so the page stays light, and so does the web process: the window
    is sampled in SQL (stratified by time) and topic members are found by nearest-neighbour queries in
    PostgreSQL, so at most MAP_POINTS window vectors ever leave the database, however large the window.
    The PCA axes are fitted on the baseline so that a shift shows as a move away from the baseline cloud.
    """
    baseline = Baseline.objects.filter(deployment=deployment, is_active=True).only("id", "sample_ids").first()
    if baseline is None or verdict is None:
        return {"baseline": [], "current": [], "topics": [], "window": None}
    rng = np.random.default_rng(seed)
    base_ids = np.array(baseline.sample_ids, dtype=np.int64)
    if len(base_ids) > MAP_POINTS:
        base_ids = np.sort(rng.choice(base_ids, MAP_POINTS, replace=False))
    b_ids, b_vecs = drift_selectors.sample_vectors(deployment=deployment, sample_ids=base_ids.tolist())
    start, end = verdict.window_start, verdict.window_end
    run = drift_runs_for_window(deployment=deployment, start=start, end=end).get("prompts")
    topics = list(run.topics) if run is not None and run.status == DriftRun.Status.COMPLETED else []
    topic_of = _topic_members(topics, deployment=deployment, start=start, end=end)
    # Every topic member that fits (up to half the points), the rest a time-stratified sample of the window.
    members = sorted(topic_of)[: MAP_POINTS // 2]
    m_ids, m_vecs = drift_selectors.sample_vectors(deployment=deployment, start=start, end=end, sample_ids=members)
    s_ids, s_vecs = drift_selectors.sample_vectors(deployment=deployment, start=start, end=end,
                                                   at_most=MAP_POINTS, seed=seed)
    others = ~np.isin(s_ids, m_ids)
    s_ids, s_vecs = s_ids[others], s_vecs[others]
    if len(m_ids) + len(s_ids) > MAP_POINTS:
        pick = np.sort(rng.choice(len(s_ids), MAP_POINTS - len(m_ids), replace=False))
        s_ids, s_vecs = s_ids[pick], s_vecs[pick]
    order = np.argsort(np.concatenate([m_ids, s_ids]), kind="stable")
    c_ids = np.concatenate([m_ids, s_ids])[order]
    c_vecs = np.vstack([m_vecs, s_vecs])[order] if len(order) else np.zeros((0, b_vecs.shape[1]), dtype=np.float32)
    if len(b_ids) < 3:
        return {"baseline": [], "current": [], "topics": [], "window": verdict.pk}
    projection = mapping.pca_2d(b_vecs, np.vstack([b_vecs, c_vecs]) if len(c_vecs) else b_vecs)
    b_xy, c_xy = projection[: len(b_ids)], projection[len(b_ids):]
    prompts = dict(
        ProductionSample.objects.filter(id__in=[*b_ids.tolist(), *c_ids.tolist()]).values_list("id", "prompt")
    )

    def point(sid, xy):
        return {
            "x": round(float(xy[0]), 4), "y": round(float(xy[1]), 4), "id": int(sid),
            "prompt": prompts.get(int(sid), "")[:160],
            "url": reverse("sample-detail", args=[deployment.slug, int(sid)]),
        }

    current, by_topic = [], {i: [] for i in range(len(topics))}
    for sid, xy in zip(c_ids, c_xy):
        t = topic_of.get(int(sid))
        (by_topic[t] if t is not None else current).append(point(sid, xy))
    return {
        "window": verdict.pk,
        "baseline": [point(s, xy) for s, xy in zip(b_ids, b_xy)],
        "current": current,
        "topics": [
            {"label": ", ".join(t.get("keywords", [])[:3]) or f"topic {i + 1}", "share": t.get("share"), "points": by_topic[i]}
            for i, t in enumerate(topics)
        ],
    }


def _topic_members(topics: list[dict], *, deployment: Deployment, start: dt.datetime, end: dt.datetime) -> dict[int, int]:
    """sample id → topic index: for each topic, the `size` window prompts nearest its representatives' centroid
    (a prompt taken by an earlier topic is not counted again).

    Drift runs store only a topic's representatives; its size tells how many window prompts belong to it.
    The nearest prompts are found in PostgreSQL (sample_nearest_ids): only ids come back, not vectors.
    """
    out: dict[int, int] = {}
    for t_index, topic in enumerate(topics):
        rep_ids, rep_vecs = drift_selectors.sample_vectors(
            deployment=deployment, start=start, end=end, sample_ids=list(topic.get("sample_ids", []))
        )
        if not len(rep_ids):
            continue
        centroid = rep_vecs.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        size = int(topic.get("size", len(rep_ids)))
        # Enough neighbours that `size` remain after those earlier topics took.
        nearest = drift_selectors.sample_nearest_ids(deployment=deployment, start=start, end=end, vector=centroid,
                                                     limit=size + len(out))
        taken = 0
        for sid in nearest.tolist():
            if sid in out:
                continue
            out[sid] = t_index
            taken += 1
            if taken >= size:
                break
    return out


def advice_prompts(*, advice: RetrainingAdvice) -> list[dict]:
    """The prompts of the advice's new topics, for the JSONL export (one dict per prompt).

    Members are found in SQL and their rows read in chunks: the window's vectors never leave the database.
    """
    verdict = advice.verdict
    members = _topic_members(advice.topics, deployment=advice.deployment, start=verdict.window_start,
                             end=verdict.window_end)
    rows = ProductionSample.objects.filter(
        deployment=advice.deployment, client_timestamp__gte=verdict.window_start,
        client_timestamp__lt=verdict.window_end, id__in=list(members),
    ).values_list("id", "external_id", "prompt", "client_timestamp").order_by("client_timestamp", "id")
    out = []
    for sid, external_id, prompt, when in rows.iterator(chunk_size=2000):
        topic = advice.topics[members[sid]]
        out.append({
            "prompt": prompt, "sample_id": sid, "external_id": external_id, "served_at": when.isoformat(),
            "topic": members[sid] + 1, "topic_keywords": topic.get("keywords", [])[:5],
            "deployment": advice.deployment.slug,
        })
    return out


# --- The verdict as a case file ---------------------------------------------------------------------

SOURCE_LABELS = {
    "golden": "Golden-set evaluation", "flags": "User flags confirmed by SMEs", "prompt_drift": "Prompt drift",
    "response_drift": "Response drift", "quality": "Label-free quality scores",
}
STATE_LABELS = {
    "degraded": "Degraded", "ok": "No significant drop", "pending": "Pending labels", "missing": "Missing",
    "drift": "Drift", "no_drift": "No drift", "completed": "Completed", "running": "Running",
    "failed": "Failed", "insufficient_data": "Too few samples",
}
TEST_LABELS = {
    "mcnemar_exact_one_sided": "Exact one-sided McNemar test on paired items",
    "fisher_exact_one_sided": "One-sided Fisher exact test against the baseline period",
    "calibrated drift suite": "Calibrated drift suite (thresholds at the deployment's false-alarm rate)",
}
THRESHOLD_LABELS = {
    "code_red_drop_pct": ("Code-red drop", "%"), "review_drop_pct": ("Weekly-review drop", "%"),
    "material_drop_pct": ("Material-degradation drop", "%"), "novel_share_alert": ("New-topic share alert", ""),
    "flag_alpha": ("Significance level of the flag test", ""), "golden_alpha": ("Significance level of the golden test", ""),
    "golden_max_age_days": ("Oldest golden evaluation that counts", " days"),
    "golden_max_error_share": ("Largest share of errored golden items", ""),
    "flag_pending_max_share": ("Largest share of flags awaiting labels", ""),
}
REGRESSED_SHOWN = 25
FLAGS_SHOWN = 25


def _regressed_items(*, run_id: int, baseline_run_id: int, viewer) -> list[dict]:
    """Golden items that passed in the baseline run and did not pass in `run_id` (same item revision)."""
    from goldenset import selectors as golden_selectors
    from goldenset.models import EvalRun

    run, base = EvalRun.objects.filter(pk=run_id).first(), EvalRun.objects.filter(pk=baseline_run_id).first()
    if run is None or base is None:
        return []
    now, before = golden_outcomes(run=run), golden_outcomes(run=base)
    ids = sorted(i for i, (rev, outcome, _) in now.items()
                 if i in before and before[i][0] == rev and before[i][1] == "passed" and outcome != "passed")
    items = {i.pk: i for i in golden_selectors.golden_items_by_ids(ids=ids[:REGRESSED_SHOWN], user=viewer)}
    return [{"item_id": i, "prompt": items[i].prompt if i in items else "", "category": now[i][2],
             "outcome": now[i][1]} for i in ids[:REGRESSED_SHOWN]] + (
        [{"more": len(ids) - REGRESSED_SHOWN}] if len(ids) > REGRESSED_SHOWN else [])


def _drift_rows(d: dict) -> list[dict]:
    rows = []
    for label, value, threshold, below_is_drift in (
        ("Jensen–Shannon divergence", d.get("js"), d.get("js_threshold"), False),
        ("Wasserstein distance", d.get("wasserstein"), d.get("wasserstein_threshold"), False),
        ("MMD permutation test p-value", d.get("mmd_p_value"), d.get("mmd_alpha"), True),
    ):
        if value is None:
            continue
        beyond = None if threshold is None else (value < threshold if below_is_drift else value > threshold)
        rows.append({"label": label, "value": value, "threshold": threshold, "beyond": beyond,
                     "threshold_label": "significance level" if below_is_drift else "threshold"})
    return rows


def verdict_case_file(*, verdict: Verdict, viewer) -> dict:
    """Everything a verdict rests on, source by source, in the order a reader checks it."""
    from feedback import selectors as feedback_selectors

    inputs = verdict.inputs or {}
    evidence = {e["source"]: e for e in inputs.get("evidence") or []}
    golden = inputs.get("golden") or {}
    versions = []
    for v in golden.get("versions") or []:
        row = dict(v)
        if v.get("run_id") and v.get("baseline_run_id") and v.get("regressed"):
            row["regressed_items"] = _regressed_items(run_id=v["run_id"], baseline_run_id=v["baseline_run_id"],
                                                     viewer=viewer)
        versions.append(row)
    drift = inputs.get("drift") or {}
    drift_sections = []
    for target, source in (("prompts", "prompt_drift"), ("responses", "response_drift")):
        d = drift.get(target)
        drift_sections.append({
            "target": target, "source": source, "label": SOURCE_LABELS[source], "run": d,
            "state": (evidence.get(source) or {}).get("state", "missing"),
            "rows": _drift_rows(d) if d else [],
            "missing": (evidence.get(source) or {}).get("missing"),
        })
    flags = (feedback_selectors.flag_list(deployment=verdict.deployment, viewer=viewer)
             .filter(sample__client_timestamp__gte=verdict.window_start, sample__client_timestamp__lt=verdict.window_end)
             .select_related("sample", "flagged_by"))
    quality = evidence.get("quality") or {}
    thresholds = [
        {"label": THRESHOLD_LABELS.get(k, (k.replace("_", " "), ""))[0], "value": val,
         "unit": THRESHOLD_LABELS.get(k, ("", ""))[1]}
        for k, val in (inputs.get("thresholds") or {}).items()
    ]
    missing = [{"source": SOURCE_LABELS.get(e["source"], e["source"]), "why": e["missing"]}
               for e in inputs.get("evidence") or [] if e.get("missing")]
    return {
        "reasons": inputs.get("reasons") or [],
        "sources": [
            {**e, "label": SOURCE_LABELS.get(e["source"], e["source"].replace("_", " ")),
             "state_label": STATE_LABELS.get(e.get("state"), str(e.get("state", "")).replace("_", " ")),
             "test_label": TEST_LABELS.get(e.get("test") or "", e.get("test") or "")}
            for e in inputs.get("evidence") or []
        ],
        "golden": {**golden, "versions": versions, "evidence": evidence.get("golden") or {}},
        "requested": inputs.get("requested_evaluations") or [],
        "drift": drift_sections,
        "flags": inputs.get("flags") or {},
        "flag_rows": list(flags[:FLAGS_SHOWN]),
        "flag_total": flags.count(),
        "quality": quality,
        "thresholds": thresholds,
        "missing": missing,
        "history": list(verdict_versions(deployment=verdict.deployment, start=verdict.window_start,
                                         end=verdict.window_end)),
    }
