"""Reads for compliance: the report figures, stored reports and the audit trail.

`report_figures` is the single source of every number in a report (PDF, CSV and JSON all render it).
It is deterministic: rows are sorted, floats rounded, timestamps are UTC ISO strings, and nothing
about the act of generating (time, user, software version) goes inside. State that changes after
the period (a threshold edited later, an alert acknowledged later) is read as it was at the period's
end, from the audit trail and the records' own timestamps, so a report regenerated next year for the
same period has the same figures as long as the records of the period are unchanged.

Aggregations over production samples are SQL (COUNT ... GROUP BY): a month can hold millions of rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections import Counter, defaultdict

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast, Coalesce
from django.shortcuts import get_object_or_404

from drift_app import selectors as drift_selectors
from drift_app import stats
from drift_app.models import Baseline, Deployment, DriftRun, ProductionSample

from . import sections
from .models import AuditEvent, ComplianceReport

SCHEMA_VERSION = 1
# Deployment fields that make up the monitoring plan; reconstructed as of the period end.
THRESHOLD_FIELDS = (
    "drift_window", "drift_false_alarm_rate", "min_window_samples", "novel_share_alert",
    "code_red_drop_pct", "review_drop_pct", "material_drop_pct", "quality_drift_pct",
)
PLAN_FIELDS = ("current_model_version", *THRESHOLD_FIELDS)
ALERT_POLICY_FIELDS = ("code_red_open_after", "review_open_after", "close_after", "flag_alpha", "retrain_js_windows")


def statistics_plan() -> list[dict]:
    """The drift statistics as the monitoring plan states them: from the statistics registry, by name."""
    return [{"name": st.label, "key": st.name, "rule": st.description} for st in stats.registry.statistics()]

GOLDEN_TYPES = ("goldenset.GoldenItem", "goldenset.GoldenSetVersion")
THRESHOLD_TYPES = ("drift_app.Deployment", "verdicts.AlertPolicy", "goldenset.EvalConfig",
                   "feedback.DeploymentFeedbackSettings")


# --- Formatting helpers (the figures' canonical forms) ----------------------------------------------


def ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def rnd(value, digits: int = 4) -> float | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return round(value, digits)


def canonical_json(figures: dict) -> str:
    """The byte-stable text of the figures: sorted keys, no whitespace, UTF-8. Its SHA-256 is the report's."""
    return json.dumps(figures, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def figures_sha256(figures: dict) -> str:
    return hashlib.sha256(canonical_json(figures).encode()).hexdigest()


def _model(app_label: str, name: str):
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


# --- State at the end of the period (from the audit trail) -------------------------------------------


def state_at(*, object_type: str, object_id, current: dict, when: dt.datetime) -> dict:
    """The values `current` had at `when`: for each field, the `before` of its first change at or after
    `when` (changes after the period are undone), else its current value."""
    out = dict(current)
    pending = set(current)
    events = (AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id), action="update", at__gte=when)
              .order_by("at", "id").values_list("before", flat=True))
    for before in events.iterator():
        for key in list(pending):
            if before and key in before:
                out[key] = before[key]
                pending.discard(key)
        if not pending:
            break
    return out


def _deployment_plan(deployment: Deployment, end: dt.datetime) -> dict:
    current = {f: getattr(deployment, f) for f in PLAN_FIELDS}
    return state_at(object_type="drift_app.Deployment", object_id=deployment.pk, current=current, when=end)


def _alert_policy(deployment: Deployment, end: dt.datetime) -> dict | None:
    AlertPolicy = _model("verdicts", "AlertPolicy")
    if AlertPolicy is None:
        return None
    policy = AlertPolicy.objects.filter(deployment=deployment).first()
    if policy is None:
        return {f: AlertPolicy._meta.get_field(f).default for f in ALERT_POLICY_FIELDS}
    current = {f: getattr(policy, f) for f in ALERT_POLICY_FIELDS}
    return state_at(object_type="verdicts.AlertPolicy", object_id=policy.pk, current=current, when=end)


# --- Sections -----------------------------------------------------------------------------------------

_VERSIONS_SQL = f"""
SELECT model_version, count(*), min(client_timestamp), max(client_timestamp)
FROM {ProductionSample._meta.db_table}
WHERE deployment_id = %s AND client_timestamp >= %s AND client_timestamp < %s
GROUP BY model_version
"""


def _system(deployment: Deployment, start, end, plan: dict) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(_VERSIONS_SQL, [deployment.pk, start, end])
        rows = cursor.fetchall()
    versions = sorted(
        ({"model_version": v, "samples": n, "first_seen": ts(lo), "last_seen": ts(hi)} for v, n, lo, hi in rows),
        key=lambda r: (r["first_seen"], r["model_version"]),
    )
    return {
        "deployment": deployment.name,
        "slug": deployment.slug,
        "description": deployment.description,
        "model_version_at_period_end": plan["current_model_version"],
        "samples": sum(r["samples"] for r in versions),
        "model_versions": versions,
    }


def _drift_baseline(deployment: Deployment, end) -> dict | None:
    # The baseline the period's windows were compared with: that of the last drift run of the period,
    # else the one active now.
    run = (DriftRun.objects.filter(deployment=deployment, window_start__lt=end).order_by("-window_start", "-id")
           .values_list("baseline_id", flat=True).first())
    qs = Baseline.objects.filter(deployment=deployment).defer("prompt_artifact", "response_artifact", "sample_ids")
    baseline = qs.filter(pk=run).first() if run else qs.filter(is_active=True).first()
    if baseline is None:
        return None
    return {
        "id": baseline.pk, "period_start": ts(baseline.period_start), "period_end": ts(baseline.period_end),
        "samples": baseline.sample_count, "embedding_model": baseline.embedding_model, "status": baseline.status,
    }


def _eval_runs(deployment: Deployment, start, end) -> list:
    EvalRun = _model("goldenset", "EvalRun")
    if EvalRun is None:
        return []
    return list(
        EvalRun.objects.filter(deployment=deployment, status="succeeded", pass_rate__isnull=False)
        .annotate(done=Coalesce("finished_at", "started_at", "created_at"))
        .filter(done__gte=start, done__lt=end)
        .select_related("golden_version", "baseline_run__golden_version")
        .order_by("done", "id")
    )


def _run_ref(run) -> dict:
    return {
        "run_id": run.pk, "model_version": run.model_version, "pass_rate": rnd(run.pass_rate),
        "golden_version": run.golden_version.number, "items": run.item_count,
        "evaluated_at": ts(run.finished_at or run.started_at or run.created_at),
    }


def _golden_baseline(deployment: Deployment, runs: list):
    for run in reversed(runs):
        if run.baseline_run_id:
            return run.baseline_run
        if run.is_baseline:
            return run
    EvalRun = _model("goldenset", "EvalRun")
    if EvalRun is None:
        return None
    return EvalRun.objects.filter(deployment=deployment, is_baseline=True).select_related("golden_version").first()


def _relative_drop(run, baseline) -> float | None:
    if run.relative_drop_pct is not None:
        return rnd(run.relative_drop_pct, 2)
    if baseline is None or baseline.pk == run.pk or not baseline.pass_rate or run.pass_rate is None:
        return None if baseline is None or baseline.pk != run.pk else 0.0
    return rnd((baseline.pass_rate - run.pass_rate) / baseline.pass_rate * 100, 2)


def _accuracy(runs: list, baseline, material_pct: float) -> dict:
    trend = []
    for run in runs:
        ref = run.baseline_run if run.baseline_run_id else (run if run.is_baseline else baseline)
        drop = _relative_drop(run, ref)
        trend.append({
            **_run_ref(run),
            "baseline_run_id": ref.pk if ref else None,
            "baseline_pass_rate": rnd(ref.pass_rate) if ref else None,
            "relative_drop_pct": drop,
            "regressed_items": run.regressed_count,
            "material": bool(drop is not None and drop > material_pct),
        })
    return {"baseline": _run_ref(baseline) if baseline else None, "trend": trend}


def _golden_set(runs: list, baseline, start, end) -> dict:
    Version = _model("goldenset", "GoldenSetVersion")
    if Version is None:
        return {"versions_used": [], "versions_created": []}

    def ref(v) -> dict:
        return {"number": v.number, "content_hash": v.content_hash, "items": v.item_count, "created_at": ts(v.created_at)}

    used = {r.golden_version.number: r.golden_version for r in runs}
    if baseline is not None:
        used.setdefault(baseline.golden_version.number, baseline.golden_version)
    created = Version.objects.filter(created_at__gte=start, created_at__lt=end).order_by("number")
    return {
        "versions_used": [ref(used[n]) for n in sorted(used)],
        "versions_created": [{**ref(v), "reason": v.reason} for v in created],
    }


def _verdicts(deployment: Deployment, start, end) -> list:
    Verdict = _model("verdicts", "Verdict")
    if Verdict is None:
        return []
    from verdicts import selectors as verdict_selectors

    return list(verdict_selectors.verdict_list(deployment=deployment, start=start, end=end))


def _material(trend: list, verdicts: list, material_pct: float, baseline: dict | None) -> dict:
    events = [t for t in trend if t["material"]]
    windows = [
        {"window_start": ts(v.window_start), "window_end": ts(v.window_end), "relative_drop_pct": rnd(v.relative_drop_pct, 2),
         "golden_pass_rate": rnd(v.golden_pass_rate), "baseline_pass_rate": rnd(v.baseline_pass_rate)}
        for v in verdicts if v.material_degradation
    ]
    out = {
        "occurred": bool(events or windows),
        "threshold_pct": rnd(material_pct, 2),
        "evaluations": events,
        "verdict_windows": windows,
        "first_at": None,
        "worst": None,
        "headline": "Material degradation occurred: no",
    }
    if events:
        worst = max(events, key=lambda e: (e["relative_drop_pct"], e["evaluated_at"]))
        out["first_at"] = events[0]["evaluated_at"]
        out["worst"] = {k: worst[k] for k in ("run_id", "model_version", "evaluated_at", "pass_rate",
                                               "baseline_pass_rate", "relative_drop_pct")}
        first = events[0]
        # The headline a regulator reads first; the sentence after it gives the worst evaluation and the count.
        out["headline"] = (
            f"Material degradation occurred: yes \u2014 on {first['evaluated_at'][:10]}, model {first['model_version']}, "
            f"golden pass rate {first['pass_rate'] * 100:.2f}% vs baseline {first['baseline_pass_rate'] * 100:.2f}% "
            f"(\u2212{first['relative_drop_pct']:.2f}% relative)"
        )
        out["statement"] = (
            f"Golden-set accuracy of model {worst['model_version']} was "
            f"{worst['pass_rate'] * 100:.2f}% on {worst['evaluated_at'][:10]}, {worst['relative_drop_pct']:.2f}% below "
            f"the baseline accuracy of {worst['baseline_pass_rate'] * 100:.2f}% (material threshold: more than "
            f"{material_pct:g}% below baseline). First material evaluation: {events[0]['evaluated_at'][:10]} "
            f"(model {events[0]['model_version']}, {events[0]['relative_drop_pct']:.2f}% below baseline); "
            f"{len(events)} material evaluation(s) in the period."
        )
    elif windows:
        w = max(windows, key=lambda x: (x["relative_drop_pct"] or 0, x["window_start"]))
        out["first_at"] = windows[0]["window_start"]
        first = windows[0]
        out["headline"] = (
            f"Material degradation occurred: yes \u2014 in the window from {first['window_start'][:10]}, golden pass rate "
            f"{(first['golden_pass_rate'] or 0) * 100:.2f}% vs baseline {(first['baseline_pass_rate'] or 0) * 100:.2f}% "
            f"(\u2212{(first['relative_drop_pct'] or 0):.2f}% relative)"
        )
        out["statement"] = (
            f"Material degradation occurred in {len(windows)} verdict window(s); the largest drop was "
            f"{(w['relative_drop_pct'] or 0):.2f}% below baseline in the window from {w['window_start'][:10]} "
            f"(threshold: more than {material_pct:g}%)."
        )
    elif trend:
        best = max((t["relative_drop_pct"] or 0) for t in trend)
        out["statement"] = (
            f"No material degradation: no golden-set evaluation in the period was more than {material_pct:g}% below "
            f"baseline (largest drop {best:.2f}% over {len(trend)} evaluation(s))."
        )
    else:
        out["statement"] = (
            "No golden-set evaluation finished in the period, so accuracy against the baseline was not measured"
            + (f" (baseline accuracy {baseline['pass_rate'] * 100:.2f}%)." if baseline else ".")
        )
    return out


def _drift_stat(run) -> dict | None:
    if run is None:
        return None
    wasserstein = (run.results or {}).get("wasserstein") or {}
    return {
        "run_id": run.pk, "status": run.status, "samples": run.sample_count, "drifted": run.drifted,
        "js": rnd(run.js), "js_threshold": rnd(run.js_threshold), "wasserstein": rnd(run.wasserstein),
        "wasserstein_threshold": rnd(wasserstein.get("threshold")), "mmd_p_value": rnd(run.mmd_p_value),
        "novel_share": rnd(run.novel_share),
    }


def _drift(deployment: Deployment, start, end) -> dict:
    newest: dict[tuple, DriftRun] = {}
    runs = (DriftRun.objects.filter(deployment=deployment, window_start__gte=start, window_start__lt=end)
            .defer("topics", "combined").order_by("window_start", "window_end", "target", "-created_at", "-id"))
    for run in runs:
        newest.setdefault((run.window_start, run.window_end, run.target), run)
    windows: dict[tuple, dict] = {}
    for (w_start, w_end, target), run in newest.items():
        w = windows.setdefault((w_start, w_end), {"window_start": ts(w_start), "window_end": ts(w_end),
                                                  "prompts": None, "responses": None})
        w[target] = _drift_stat(run)
    rows = [windows[k] for k in sorted(windows)]
    return {
        "windows": rows,
        "windows_with_prompt_drift": sum(1 for w in rows if (w["prompts"] or {}).get("drifted")),
        "windows_with_response_drift": sum(1 for w in rows if (w["responses"] or {}).get("drifted")),
    }


def _verdict_rows(verdicts: list) -> dict:
    rows = [
        {"window_start": ts(v.window_start), "window_end": ts(v.window_end), "verdict": v.verdict_class,
         "golden_pass_rate": rnd(v.golden_pass_rate), "baseline_pass_rate": rnd(v.baseline_pass_rate),
         "relative_drop_pct": rnd(v.relative_drop_pct, 2), "material_degradation": v.material_degradation,
         "prompt_drift": v.prompt_drift, "response_drift": v.response_drift, "explanation": v.explanation}
        for v in verdicts
    ]
    return {"windows": rows, "counts": dict(sorted(Counter(r["verdict"] for r in rows).items()))}


def _alerts(deployment: Deployment, start, end) -> dict:
    Alert = _model("verdicts", "Alert")
    if Alert is None:
        return {"items": [], "counts": {}}
    from verdicts import selectors as verdict_selectors

    items = []
    for a in verdict_selectors.alert_list_for_windows(deployment=deployment, start=start, end=end):
        # As it stood at the end of the period: later acknowledgements and resolutions are not in it.
        acked = a.acknowledged_at is not None and a.acknowledged_at < end
        closed = a.closed_at is not None and a.closed_at < end
        resolved_by_user = closed and a.resolved_by_id is not None
        status = "resolved" if closed else "acknowledged" if acked else "open"
        items.append({
            "id": a.pk, "signal": a.signal, "tier": a.tier, "title": a.title, "opened_at": ts(a.opened_at),
            "window_start": ts(a.window_start) if a.window_start else None,
            "window_end": ts(a.window_end) if a.window_end else None,
            "status_at_period_end": status,
            "acknowledged_by": a.acknowledged_by.get_username() if acked and a.acknowledged_by_id else None,
            "acknowledged_at": ts(a.acknowledged_at) if acked else None,
            "acknowledged_comment": a.acknowledged_comment if acked else "",
            "resolved_by": a.resolved_by.get_username() if resolved_by_user else None,
            "resolved_at": ts(a.resolved_at) if closed else None,
            "resolved_comment": a.resolved_comment if closed else "",
            "closed_at": ts(a.closed_at) if closed else None,
            "closed_automatically": bool(closed and a.resolved_by_id is None),
        })
    items.sort(key=lambda i: (i["window_start"] or i["opened_at"], i["opened_at"], i["id"]))
    return {
        "items": items,
        "counts": {
            "total": len(items),
            "code_red": sum(i["tier"] == "code_red" for i in items),
            "review": sum(i["tier"] == "review" for i in items),
            "acknowledged": sum(i["acknowledged_at"] is not None for i in items),
            "resolved": sum(i["status_at_period_end"] == "resolved" for i in items),
            "open_at_period_end": sum(i["status_at_period_end"] != "resolved" for i in items),
        },
    }


def _feedback(deployment: Deployment, start, end) -> dict | None:
    Flag, Label, Adjudication = _model("feedback", "Flag"), _model("feedback", "Label"), _model("feedback", "Adjudication")
    if Flag is None:
        return None
    from django.db.models import Count

    from drift_app.stats import agreement

    flags = Flag.objects.filter(deployment=deployment, created_at__gte=start, created_at__lt=end)
    by_reason = {r: n for r, n in flags.values_list("reason").annotate(n=Count("id")).order_by("reason")}
    flagged_samples = flags.values("sample_id").distinct().count()
    labels = Label.objects.filter(flag__deployment=deployment, created_at__gte=start, created_at__lt=end)
    outcomes = {lab: n for lab, n in labels.values_list("label").annotate(n=Count("id")).order_by("label")}
    adjudications = Adjudication.objects.filter(flag__deployment=deployment, created_at__gte=start, created_at__lt=end)
    adjudicated = {lab: n for lab, n in adjudications.values_list("label").annotate(n=Count("id")).order_by("label")}

    # Agreement over the period's flags with two or more labels given before the period's end.
    by_flag: dict[int, dict[int, str]] = defaultdict(dict)
    names: dict[int, str] = {}
    for flag_id, sme_id, username, label in (
        Label.objects.filter(flag__in=flags, created_at__lt=end).order_by("flag_id", "id")
        .values_list("flag_id", "sme_id", "sme__username", "label")
    ):
        by_flag[flag_id][sme_id] = label
        names[sme_id] = username
    multi = {f: labs for f, labs in by_flag.items() if len(labs) >= 2}
    smes = sorted(names, key=lambda u: names[u])
    fids = sorted(multi)
    alpha = None
    pairs = []
    if fids:
        table = [[multi[f].get(s) for f in fids] for s in smes]
        alpha = rnd(agreement.krippendorff_alpha_nominal(table).alpha)
        for i, a in enumerate(smes):
            for b in smes[i + 1:]:
                both = [f for f in fids if a in multi[f] and b in multi[f]]
                if both:
                    k = agreement.cohen_kappa([multi[f][a] for f in both], [multi[f][b] for f in both])
                    pairs.append({"sme_a": names[a], "sme_b": names[b], "flags": len(both),
                                  "kappa": rnd(k.kappa), "observed_agreement": rnd(k.observed)})
    return {
        "flags": sum(by_reason.values()),
        "flagged_samples": flagged_samples,
        "flags_by_reason": by_reason,
        "labels": sum(outcomes.values()),
        "label_outcomes": outcomes,
        "adjudications": sum(adjudicated.values()),
        "adjudicated_outcomes": adjudicated,
        "agreement": {
            "multiply_labelled_flags": len(fids),
            "disagreements": sum(1 for labs in multi.values() if len(set(labs.values())) > 1),
            "krippendorff_alpha": alpha,
            "pairs": pairs,
        },
    }


def _retraining(deployment: Deployment, start, end) -> list:
    Advice = _model("verdicts", "RetrainingAdvice")
    if Advice is None:
        return []
    rows = (Advice.objects.filter(deployment=deployment, verdict__window_end__gt=start, verdict__window_start__lt=end)
            .select_related("verdict").order_by("verdict__window_start", "id"))
    return [
        {"window_start": ts(a.verdict.window_start), "window_end": ts(a.verdict.window_end), "reason": a.reason,
         "topics": [{"keywords": list(t.get("keywords") or [])[:6], "size": t.get("size"), "share": rnd(t.get("share"))}
                    for t in a.topics]}
        for a in rows
    ]


def _event_row(e: AuditEvent) -> dict:
    return {
        "id": e.pk, "at": ts(e.at), "actor": e.actor_username, "action": e.action, "object_type": e.object_type,
        "object_id": e.object_id, "object": e.object_repr, "changed_fields": e.changed_fields,
        "before": e.before, "after": e.after,
    }


def _changes(deployment: Deployment, start, end) -> dict:
    period = AuditEvent.objects.filter(at__gte=start, at__lt=end).order_by("at", "id")
    thresholds = period.filter(object_type__in=THRESHOLD_TYPES, deployment_id=deployment.pk)
    golden = period.filter(object_type__in=GOLDEN_TYPES)
    golden_rows = [
        # Item content is in the golden-set versions; the report keeps what changed and who changed it.
        {**_event_row(e), "before": None, "after": None,
         "status": (e.after or {}).get("status") if e.after else (e.before or {}).get("status")}
        for e in golden
    ]
    return {
        "thresholds": [
            {**_event_row(e), "changes": [
                {"field": k, "before": (e.before or {}).get(k), "after": (e.after or {}).get(k)} for k in e.changed_fields
            ]}
            for e in thresholds
        ],
        "golden_set": golden_rows,
        "golden_set_summary": dict(sorted(Counter(f"{r['object_type'].split('.')[1]} {r['action']}" for r in golden_rows).items())),
    }


# --- The built-in sections, registered in print order (see sections.py to add one) ---------------------


def _plan(ctx: sections.ReportContext) -> dict:
    return ctx.shared("plan", lambda: _deployment_plan(ctx.deployment, ctx.end))


def _runs(ctx: sections.ReportContext) -> list:
    return ctx.shared("runs", lambda: _eval_runs(ctx.deployment, ctx.start, ctx.end))


def _golden_baseline_of(ctx: sections.ReportContext):
    return ctx.shared("golden_baseline", lambda: _golden_baseline(ctx.deployment, _runs(ctx)))


def _accuracy_of(ctx: sections.ReportContext) -> dict:
    return ctx.shared("accuracy", lambda: _accuracy(
        _runs(ctx), _golden_baseline_of(ctx), float(_plan(ctx)["material_drop_pct"])
    ))


def _verdicts_of(ctx: sections.ReportContext) -> list:
    return ctx.shared("verdicts", lambda: _verdicts(ctx.deployment, ctx.start, ctx.end))


def _section_material(ctx: sections.ReportContext) -> dict:
    accuracy = _accuracy_of(ctx)
    return {"material_degradation": _material(
        accuracy["trend"], _verdicts_of(ctx), float(_plan(ctx)["material_drop_pct"]), accuracy["baseline"]
    )}


def _section_system(ctx: sections.ReportContext) -> dict:
    return {"system": _system(ctx.deployment, ctx.start, ctx.end, _plan(ctx))}


def _section_monitoring_plan(ctx: sections.ReportContext) -> dict:
    plan = _plan(ctx)
    thresholds = {k: plan[k] for k in THRESHOLD_FIELDS}
    return {"monitoring_plan": {
        "window": plan["drift_window"],
        "thresholds": {k: (rnd(v) if isinstance(v, float) else v) for k, v in thresholds.items()},
        "tiers": [
            {"tier": "code_red", "rule": f"golden-set accuracy more than {plan['code_red_drop_pct']:g}% below baseline"},
            {"tier": "review", "rule": f"golden-set accuracy more than {plan['review_drop_pct']:g}% below baseline"},
            {"tier": "material", "rule": f"accuracy more than {plan['material_drop_pct']:g}% below baseline is reported as material degradation"},
        ],
        "alert_policy": _alert_policy(ctx.deployment, ctx.end),
        "statistics": statistics_plan(),
        "drift_baseline": _drift_baseline(ctx.deployment, ctx.end),
        "golden_baseline": _accuracy_of(ctx)["baseline"],
    }}


def _section_accuracy(ctx: sections.ReportContext) -> dict:
    return {
        "golden_set": _golden_set(_runs(ctx), _golden_baseline_of(ctx), ctx.start, ctx.end),
        "accuracy": _accuracy_of(ctx),
    }


def _section_drift(ctx: sections.ReportContext) -> dict:
    return {"drift": _drift(ctx.deployment, ctx.start, ctx.end), "verdicts": _verdict_rows(_verdicts_of(ctx))}


for _section in (
    sections.ReportSection("material_degradation", "Material degradation", 1, _section_material,
                           "reports/sections/material_degradation.html"),
    sections.ReportSection("system", "The system", 1, _section_system, "reports/sections/system.html"),
    sections.ReportSection("monitoring_plan", "Monitoring plan", 1, _section_monitoring_plan,
                           "reports/sections/monitoring_plan.html"),
    sections.ReportSection("accuracy", "Golden set and accuracy against baseline", 1, _section_accuracy,
                           "reports/sections/accuracy.html"),
    sections.ReportSection("drift", "Drift statistics and verdicts per window", 1, _section_drift,
                           "reports/sections/drift.html"),
    sections.ReportSection("alerts", "Alerts", 1, lambda ctx: {"alerts": _alerts(ctx.deployment, ctx.start, ctx.end)},
                           "reports/sections/alerts.html"),
    sections.ReportSection("feedback", "Human feedback", 1,
                           lambda ctx: {"feedback": _feedback(ctx.deployment, ctx.start, ctx.end)},
                           "reports/sections/feedback.html"),
    sections.ReportSection("retraining_advice", "Retraining advice", 1,
                           lambda ctx: {"retraining_advice": _retraining(ctx.deployment, ctx.start, ctx.end)},
                           "reports/sections/retraining_advice.html"),
    sections.ReportSection("changes", "Changes in the period (from the audit trail)", 1,
                           lambda ctx: {"changes": _changes(ctx.deployment, ctx.start, ctx.end)},
                           "reports/sections/changes.html"),
):
    sections.register(_section, replace=True)


def report_figures(*, deployment: Deployment, start: dt.datetime, end: dt.datetime, progress=None) -> dict:
    """Every figure of the degradation report of `deployment` for [start, end): one entry per registered section.

    `progress(fraction, step)`, when given, hears of each section as it starts (for the page that polls)."""
    if end <= start:
        raise ValueError("end must be after start")
    ctx = sections.ReportContext(deployment=deployment, start=start, end=end)
    figures = {
        "schema": SCHEMA_VERSION,
        "period": {"start": ts(start), "end": ts(end)},
        "sections": [section.describe() for section in sections.sections()],
    }
    built = sections.sections()
    for i, section in enumerate(built):
        if progress is not None:
            progress(i / len(built), f"Computing “{section.title}”")
        figures.update(section.build(ctx))
    return figures


# --- Stored reports -------------------------------------------------------------------------------------


def report_list(*, deployment: Deployment | None = None, viewer=None) -> QuerySet[ComplianceReport]:
    qs = ComplianceReport.objects.select_related("deployment").defer("pdf", "csv", "figures")
    if viewer is not None:
        qs = qs.filter(deployment__in=drift_selectors.deployments_visible(user=viewer))
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    return qs.order_by("-generated_at", "-id")


def report_job_get(*, pk: int, user):
    from .models import ReportJob

    return get_object_or_404(ReportJob.objects.select_related("deployment", "report")
                             .filter(deployment__in=drift_selectors.deployments_visible(user=user)), pk=pk)


def report_get(*, pk: int, user) -> ComplianceReport:
    return get_object_or_404(ComplianceReport.objects.select_related("deployment")
                             .filter(deployment__in=drift_selectors.deployments_visible(user=user)), pk=pk)


# --- Audit trail ----------------------------------------------------------------------------------------


def audit_event_list(
    *, actor: str = "", object_type: str = "", action: str = "", deployment: Deployment | None = None,
    object_id: str = "", start: dt.datetime | None = None, end: dt.datetime | None = None, q: str = "",
    viewer=None,
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all()
    if viewer is not None:
        # Events of the viewer's teams' deployments, and installation-wide ones (no deployment).
        visible = drift_selectors.deployments_visible(user=viewer).values("pk")
        qs = qs.filter(Q(deployment_id__in=visible) | Q(deployment_id__isnull=True))
    if actor:
        qs = qs.filter(actor_username=actor)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if action:
        qs = qs.filter(action=action)
    if deployment is not None:
        qs = qs.filter(deployment_id=deployment.pk)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if start is not None:
        qs = qs.filter(at__gte=start)
    if end is not None:
        qs = qs.filter(at__lt=end)
    if q:
        # Free text: who, what (type, id, its name), the request, and the values before and after.
        qs = qs.annotate(_before=Cast("before", TextField()), _after=Cast("after", TextField())).filter(
            Q(actor_username__icontains=q) | Q(object_type__icontains=q) | Q(object_repr__icontains=q)
            | Q(object_id=q) | Q(request_path__icontains=q) | Q(_before__icontains=q) | Q(_after__icontains=q))
    return qs.order_by("-at", "-id")


def _audit_value(value, names: dict | None) -> str:
    if value is None or value == "":
        return "—"
    if names is not None and value in names:
        return f"{names[value]} (#{value})"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def audit_rows(events) -> list[dict]:
    """Events as a reader wants them: each changed field with readable before → after, and references to
    other records (people, teams, deployments, flags…) shown by name; the event itself stores their ids."""
    events = list(events)
    related: dict[tuple[str, str], object] = {}  # (object type, stored field) → the model it refers to
    wanted: dict[object, set] = defaultdict(set)
    for e in events:
        model = _model(*e.object_type.split(".", 1)) if e.object_type.count(".") == 1 else None
        for name in set(e.before or {}) | set(e.after or {}):
            key = (e.object_type, name)
            if key not in related:
                remote = None
                if model is not None and name.endswith("_id"):
                    try:
                        remote = getattr(model._meta.get_field(name.removesuffix("_id")), "related_model", None)
                    except FieldDoesNotExist:  # a field the model no longer has
                        remote = None
                related[key] = remote
            if related[key] is not None:
                for side in (e.before or {}, e.after or {}):
                    if isinstance(side.get(name), int):
                        wanted[related[key]].add(side[name])
    names = {model: {pk: str(obj) for pk, obj in model._base_manager.in_bulk(list(ids)).items()}
             for model, ids in wanted.items()}
    rows = []
    for e in events:
        before, after = e.before or {}, e.after or {}
        fields = list(e.changed_fields or []) or sorted(set(before) | set(after))
        diff = []
        for f in fields:
            lookup = names.get(related.get((e.object_type, f)))
            diff.append({"field": f.removesuffix("_id").replace("_", " "),
                         "before": _audit_value(before.get(f), lookup) if e.before is not None else None,
                         "after": _audit_value(after.get(f), lookup) if e.after is not None else None})
        rows.append({"event": e, "object_label": e.object_type.split(".")[-1], "diff": diff})
    return rows


def audit_object_types() -> list[str]:
    return list(AuditEvent.objects.order_by("object_type").values_list("object_type", flat=True).distinct())


def audit_actors() -> list[str]:
    return list(AuditEvent.objects.order_by("actor_username").values_list("actor_username", flat=True).distinct())

