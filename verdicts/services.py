"""Writes: verdicts, the alerts they open and close, notifications, retraining advice."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from drift_app import formatting, metric_sinks
from drift_app import selectors as drift_selectors
from drift_app.models import Deployment, DriftRun
from drift_app.stats import registry as stat_registry
from drift_app.stats import verdict_rules as rules

from . import selectors, webhook
from .models import Alert, AlertDelivery, AlertPolicy, RetrainingAdvice, Verdict

logger = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 5_000


class AlertStateError(ValidationError):
    """The alert is not in a state that allows the operation (answered 409 by the API)."""


# --- Verdicts ---------------------------------------------------------------------------------------


def _check_window(window_start: dt.datetime, window_end: dt.datetime) -> None:
    if timezone.is_naive(window_start) or timezone.is_naive(window_end):
        raise ValidationError("window_start and window_end must carry a time zone.")
    if window_end <= window_start:
        raise ValidationError("window_end must be after window_start.")


# Extra evidence sources (e.g. label-free quality scores) register here: name → callable(deployment=,
# window_start=, window_end=) returning a dict with at least "state" (see rules.DEGRADED/OK/PENDING/
# MISSING) or None when the source has nothing for the window. They are stored and explained with
# the built-in sources; the class rests on the golden set and the flags.
EVIDENCE_SOURCES: dict = {}


def evidence_source_register(name: str, fn) -> None:
    if name in ("golden", "flags", "prompt_drift", "response_drift"):
        raise ValueError(f"{name} is a built-in evidence source")
    EVIDENCE_SOURCES[name] = fn


def quality_source(*, deployment: Deployment, window_start: dt.datetime, window_end: dt.datetime) -> dict | None:
    """Label-free quality evidence (per-sample scores such as a reward model's) as a verdict source.

    Only a quality score's significant drop beyond the deployment's band (quality_drift_pct) is
    degradation; prompt-response relevance and response length ride along as context, never deciding.
    """
    ev = drift_selectors.quality_evidence(deployment=deployment, start=window_start, end=window_end)
    if not ev["scores"]:
        return None
    degraded = ev["degraded_scores"]
    worst = min(ev["scores"], key=lambda s: (s.get("relative_change_pct") is None, s.get("relative_change_pct") or 0))
    return {
        "state": rules.DEGRADED if degraded else rules.OK,
        "test": "mann_whitney_u + bootstrap interval of the mean's relative change",
        "statistic": "relative_change_pct", "value": worst.get("relative_change_pct"),
        "interval_95": [worst.get("ci_low_pct"), worst.get("ci_high_pct")], "p_value": worst.get("p_value"),
        "score": worst.get("name"), "band_pct": ev["band_pct"],
        "degraded_scores": degraded, "scores": ev["scores"], "context": ev["context"],
        "baseline_period": ev["baseline_period"], "missing": ev["note"] or None,
    }


def _quality_request(*, deployment: Deployment, quality: dict | None, window_start, window_end) -> dict | None:
    """Queue one golden evaluation for a window's quality-score drop, once per window and model version.

    Like the stale-evidence request: a recompute of the same window (hourly, or after late evidence)
    finds the request in the window's earlier verdict versions and reuses it, even after that run has
    finished, instead of queueing another. Nothing queued (no endpoint, a run already busy) is not
    remembered, so a later recompute may still queue it.
    """
    if (quality or {}).get("state") != rules.DEGRADED:
        return None
    version = deployment.current_model_version
    for earlier in selectors.verdict_versions(deployment=deployment, start=window_start, end=window_end):
        request = earlier.inputs.get("quality_evaluation")
        if request and request.get("model_version") == version and request.get("run_id"):
            return request
    from goldenset import services as golden_services

    run = golden_services.eval_on_quality_drop(deployment=deployment, evidence={"degraded": True, **quality})
    if run is None:
        return {"model_version": version, "run_id": None,
                "status": "not queued: no evaluation endpoint, or an evaluation is already pending or running"}
    logger.info("golden evaluation %s of %s %s queued on a quality drop in window %s", run.pk, deployment.slug,
                version, window_start)
    return {"model_version": version, "run_id": run.pk, "status": "queued"}


evidence_source_register("quality", quality_source)


def _evidence_at(run) -> dt.datetime:
    return run.answers_produced_at or run.finished_at or run.started_at or run.created_at


def _day(x: dt.datetime) -> str:
    return f"{x:%Y-%m-%d %H:%M}"


def _golden_version(*, deployment: Deployment, version: str, start, end, policy: AlertPolicy,
                    baseline, base_outcomes: dict) -> dict:
    """The golden evidence for one model version that served the window."""
    max_age = dt.timedelta(days=policy.golden_max_age_days)
    out: dict = {"model_version": version, "state": rules.MISSING, "missing": None, "run_id": None}
    run = selectors.golden_run_fresh(deployment=deployment, model_version=version, start=start, end=end, max_age=max_age)
    if run is None:
        latest = selectors.golden_run_latest_before(deployment=deployment, model_version=version, end=end)
        why = f"no evaluation of model {version} with answers from {_day(start - max_age)} to {_day(end + max_age)}"
        if latest is not None:
            age = (start - _evidence_at(latest)).total_seconds() / 86400
            why += (f" (the latest, run #{latest.pk}, has answers from {_day(_evidence_at(latest))}, "
                    f"{age:.1f} days before the window; maximum age {policy.golden_max_age_days:g} days)")
        else:
            why += " (this model version was never evaluated on the golden set)"
        out.update(missing=why, stale_run_id=latest.pk if latest is not None else None, reason="stale" if latest else "never")
        return out
    out.update(run_id=run.pk, finished_at=run.finished_at.isoformat() if run.finished_at else None,
               answers_produced_at=run.answers_produced_at.isoformat() if run.answers_produced_at else None,
               golden_version=run.golden_version.number)
    if run.judge_model:
        # A judge decides the run's outcomes: the evidence says whether that judge agrees with SMEs.
        from goldenset import selectors as golden_selectors

        status = golden_selectors.judge_calibration_status(
            deployment=deployment, judge_model=run.judge_model, judge_prompt_version=run.judge_prompt_version)
        out["judge"] = {"model": run.judge_model, "rubric": run.judge_prompt_version,
                        "calibrated": status["calibrated"], "kappa": status["kappa"], "n": status["n"],
                        "reason": status["reason"]}
    if baseline is None:
        out.update(missing="no baseline evaluation run to compare with", reason="no_baseline")
        return out
    outcomes = selectors.golden_outcomes(run=run) if run.pk != baseline.pk else base_outcomes
    errored = sum(1 for _, o, _ in outcomes.values() if o in ("errored", "pending"))
    share = errored / len(outcomes) if outcomes else 1.0
    out.update(errored=errored, items_evaluated=len(outcomes), errored_share=share)
    if share > policy.golden_max_error_share:
        out.update(missing=(f"run #{run.pk} of model {version} is incomplete: {errored} of {len(outcomes)} items errored "
                            f"({share:.0%}, more than {policy.golden_max_error_share:.0%})"), reason="incomplete")
        return out
    common = sorted(i for i in outcomes if i in base_outcomes and outcomes[i][0] == base_outcomes[i][0])
    changed = [i for i in outcomes if i in base_outcomes and outcomes[i][0] != base_outcomes[i][0]]
    out.update(items_common=len(common), items_added=len([i for i in outcomes if i not in base_outcomes]),
               items_changed=len(changed), items_retired=len([i for i in base_outcomes if i not in outcomes]),
               baseline_run_id=baseline.pk, baseline_golden_version=baseline.golden_version.number)
    # Errored items count as not passed: an answer that never came is not a pass.
    base = [base_outcomes[i][1] == "passed" for i in common]
    cur = [outcomes[i][1] == "passed" for i in common]
    cmp = rules.paired_golden_comparison(base, cur, alpha=policy.golden_alpha)
    if cmp is None:
        out.update(missing=f"run #{run.pk} shares no item (same revision) with the baseline run #{baseline.pk}",
                   reason="no_common_items")
        return out
    regressed_cats = Counter(outcomes[i][2] for i, b, c in zip(common, base, cur) if b and not c)
    mdd = rules.min_detectable_drop_pct(cmp.items, cmp.baseline_rate, alpha=policy.golden_alpha)
    needed = rules.items_needed(cmp.baseline_rate, deployment.review_drop_pct, alpha=policy.golden_alpha)
    degraded = cmp.relative_drop_pct > deployment.review_drop_pct and cmp.significant
    powered = mdd is not None and mdd <= deployment.review_drop_pct
    out.update(
        comparison=cmp.as_dict(), pass_rate=cmp.current_rate, baseline_pass_rate=cmp.baseline_rate,
        relative_drop_pct=cmp.relative_drop_pct, ci_pct=[cmp.ci_low_pct, cmp.ci_high_pct], p_value=cmp.p_value,
        regressed=cmp.regressed, improved=cmp.improved, regressed_by_category=dict(regressed_cats.most_common()),
        min_detectable_drop_pct=mdd, items_needed=needed,
        # Tiers use the same unrounded point estimate as the class, and only a significant drop has one.
        tier=rules.golden_tier(cmp.relative_drop_pct, code_red_pct=deployment.code_red_drop_pct,
                               review_pct=deployment.review_drop_pct) if cmp.significant else None,
    )
    if degraded:
        out["state"] = rules.DEGRADED
    elif not powered:
        out.update(reason="underpowered", missing=(
            f"the golden set ({cmp.items} items in common at a {cmp.baseline_rate:.0%} baseline pass rate) detects "
            + (f"drops from {mdd:.1f}% only" if mdd is not None else "no drop at all")
            + f", not the {deployment.review_drop_pct:g}% review threshold"
            + (f": about {needed} items needed" if needed else "")))
    else:
        out["state"] = rules.OK
    return out


def _golden_inputs(*, deployment: Deployment, window_start, window_end, policy: AlertPolicy) -> dict:
    """Golden evidence of every model version that served the window; the summary is the worst of them."""
    served = selectors.window_model_versions(deployment=deployment, start=window_start, end=window_end)
    note = None
    if not served:
        served = {deployment.current_model_version: 0}
        note = f"no traffic in the window: judged the deployment's current model version {deployment.current_model_version}"
    baseline = selectors.golden_baseline_run(deployment=deployment)
    base_outcomes = selectors.golden_outcomes(run=baseline) if baseline is not None else {}
    versions = [
        {**_golden_version(deployment=deployment, version=v, start=window_start, end=window_end, policy=policy,
                           baseline=baseline, base_outcomes=base_outcomes), "samples": n}
        for v, n in served.items()
    ]
    states = [v["state"] for v in versions]
    state = rules.DEGRADED if rules.DEGRADED in states else rules.MISSING if rules.MISSING in states else rules.OK
    measured = [v for v in versions if v.get("comparison")]
    worst = max(measured, key=lambda v: v["relative_drop_pct"]) if measured else None
    summary = {
        "state": state, "versions": versions, "note": note,
        "missing": [v["missing"] for v in versions if v["missing"]],
        "baseline_run_id": baseline.pk if baseline is not None else None,
    }
    if worst is not None:
        summary.update({k: worst.get(k) for k in (
            "run_id", "model_version", "pass_rate", "baseline_pass_rate", "relative_drop_pct", "ci_pct", "p_value",
            "regressed", "regressed_by_category", "tier", "min_detectable_drop_pct", "items_needed", "finished_at",
            "answers_produced_at")})
    return summary


def _golden_request(*, deployment: Deployment, golden: dict, window_start, window_end) -> list[dict]:
    """Queue one golden evaluation per missing (stale or never evaluated) version, once per window and version."""
    wanted = [v["model_version"] for v in golden["versions"] if v.get("reason") in ("stale", "never")]
    if not wanted:
        return []
    already: dict[str, dict] = {}
    for earlier in selectors.verdict_versions(deployment=deployment, start=window_start, end=window_end):
        for r in (earlier.inputs.get("requested_evaluations") or []):
            already.setdefault(r["model_version"], r)
    out = []
    for version in wanted:
        if version in already:
            out.append(already[version])
            continue
        if not selectors.golden_can_evaluate(deployment=deployment):
            out.append({"model_version": version, "run_id": None,
                        "status": "not queued: the deployment has no evaluation endpoint; upload answers instead"})
            continue
        from goldenset import services as golden_services
        from goldenset.models import EvalRun

        try:
            run = golden_services.eval_run_create(deployment=deployment, model_version=version,
                                                  trigger=EvalRun.Trigger.SCHEDULE, queue=True)
        except ValidationError as exc:
            out.append({"model_version": version, "run_id": None, "status": f"not queued: {'; '.join(exc.messages)}"})
            continue
        logger.info("golden evaluation %s of %s %s queued for window %s", run.pk, deployment.slug, version, window_start)
        out.append({"model_version": version, "run_id": run.pk, "status": "queued"})
    return out


def _flag_inputs(*, deployment: Deployment, window_start, window_end, policy: AlertPolicy) -> dict:
    from feedback import selectors as feedback_selectors

    now = feedback_selectors.feedback_metrics(deployment=deployment, start=window_start, end=window_end)
    out = {
        "samples": now.samples, "flags": now.flags, "pending": now.pending,
        "pending_share": now.pending / now.flags if now.flags else 0.0,
        "max_pending_share": policy.flag_pending_max_share,
        "flag_rate": now.flag_rate.rate if now.samples else None,
        "confirmed_bad": now.confirmed_bad_rate.count,
        "confirmed_bad_rate": now.confirmed_bad_rate.rate if now.samples else None,
        "outdated_rate": now.outdated_rate.rate if now.samples else None,
        "baseline_period": None, "test": None, "increased": None, "state": rules.MISSING,
        "missing": "no traffic in the window" if not now.samples else None,
    }
    period = selectors.feedback_baseline_period(deployment=deployment)
    test = None
    if period is None:
        out["missing"] = out["missing"] or "no baseline period to compare the confirmed-bad rate with"
    elif now.samples:
        base = feedback_selectors.feedback_metrics(deployment=deployment, start=period[0], end=period[1])
        test = rules.flag_rate_test(
            count_now=now.confirmed_bad_rate.count, total_now=now.confirmed_bad_rate.total,
            count_base=base.confirmed_bad_rate.count, total_base=base.confirmed_bad_rate.total, alpha=policy.flag_alpha,
        )
        out["baseline_period"] = [period[0].isoformat(), period[1].isoformat()]
        if test is not None:
            out["test"] = test.as_dict()
            out["increased"] = test.increased
        else:
            out["missing"] = "no traffic in the baseline period"
    out["state"] = rules.flag_state(test, flags=now.flags, pending=now.pending, max_pending_share=policy.flag_pending_max_share)
    if out["state"] == rules.PENDING:
        out["increased"] = None
        out["missing"] = (f"{now.pending} of {now.flags} flags ({out['pending_share']:.0%}) still await SME labels "
                          f"(more than {policy.flag_pending_max_share:.0%})")
    return out


def _drift_inputs(*, deployment: Deployment, window_start, window_end) -> dict:
    runs = selectors.drift_runs_for_window(deployment=deployment, start=window_start, end=window_end)
    out: dict = {}
    for target in ("prompts", "responses"):
        run = runs.get(target)
        if run is None:
            out[target] = None
            continue
        completed = run.status == DriftRun.Status.COMPLETED
        out[target] = {
            "run_id": run.pk, "status": run.status, "drifted": run.drifted if completed else None,
            "sample_count": run.sample_count, "js": run.js, "js_threshold": run.js_threshold,
            "wasserstein": run.wasserstein,
            "wasserstein_threshold": (run.results.get("wasserstein") or {}).get("threshold"),
            "mmd_p_value": run.mmd_p_value, "mmd_alpha": deployment.drift_false_alarm_rate,
            "novel_share": run.novel_share,
            # Every statistic of the calibrated suite, by name, against its own threshold (drift_app.stats.registry).
            "statistics": {
                name: {"value": r.get("statistic"), "threshold": r.get("threshold")}
                for name, r in (run.results or {}).items() if isinstance(r, dict)
            } if completed else {},
            "style_shift": bool(((run.combined or {}).get("style") or {}).get("shifted")) if completed else None,
            "topics": [
                {k: t.get(k) for k in ("size", "share", "keywords", "representative_texts", "sample_ids")}
                for t in (run.topics or [])
            ] if completed else [],
        }
    return out


def _drift_source(name: str, d: dict | None) -> dict:
    if d is None:
        return {"source": name, "state": rules.MISSING, "missing": "no drift run for this window"}
    if d["drifted"] is None:
        return {"source": name, "state": rules.MISSING, "run_id": d["run_id"],
                "missing": f"drift not measured ({d['status'].replace('_', ' ')})"}
    # Each statistic of the calibrated suite against its own threshold; runs stored before statistics were
    # kept by name fall back to the fixed columns.
    above = [
        {"statistic": stat, "value": r["value"], "threshold": r["threshold"]}
        for stat, r in sorted((d.get("statistics") or {}).items())
        if r.get("value") is not None and r.get("threshold") is not None and r["value"] > r["threshold"]
    ]
    if not above:
        if d["js"] is not None and d["js_threshold"] is not None and d["js"] > d["js_threshold"]:
            above.append({"statistic": "js", "value": d["js"], "threshold": d["js_threshold"]})
        if (d["wasserstein"] is not None and d["wasserstein_threshold"] is not None
                and d["wasserstein"] > d["wasserstein_threshold"]):
            above.append({"statistic": "wasserstein", "value": d["wasserstein"], "threshold": d["wasserstein_threshold"]})
        if d["mmd_p_value"] is not None and d["mmd_alpha"] is not None and d["mmd_p_value"] < d["mmd_alpha"]:
            above.append({"statistic": "mmd_p_value", "value": d["mmd_p_value"], "threshold": d["mmd_alpha"]})
    return {"source": name, "state": "drift" if d["drifted"] else "no_drift", "run_id": d["run_id"],
            "test": "calibrated drift suite", "statistic": "js", "value": d["js"], "threshold": d["js_threshold"],
            "beyond_threshold": above, "style_shift": d.get("style_shift"), "missing": None}


def _evidence(*, golden: dict, flags: dict, drift: dict, extra: dict) -> list[dict]:
    g = {"source": "golden", "state": golden["state"], "test": "mcnemar_exact_one_sided",
         "statistic": "relative_drop_pct", "value": golden.get("relative_drop_pct"),
         "interval_95": golden.get("ci_pct"), "p_value": golden.get("p_value"),
         "missing": "; ".join(golden["missing"]) or None, "versions": [v["model_version"] for v in golden["versions"]]}
    t = flags.get("test") or {}
    f = {"source": "flags", "state": flags["state"], "test": "fisher_exact_one_sided",
         "statistic": "confirmed_bad_rate", "value": flags.get("confirmed_bad_rate"),
         "baseline": t.get("rate_base"), "p_value": t.get("p_value"), "missing": flags.get("missing")}
    out = [g, f, _drift_source("prompt_drift", drift.get("prompts")), _drift_source("response_drift", drift.get("responses"))]
    for name, value in extra.items():
        out.append({"source": name, **value} if value else {"source": name, "state": rules.MISSING,
                                                            "missing": f"no {name} evidence for this window"})
    if "quality" not in extra:
        out.append({"source": "quality", "state": rules.MISSING, "missing": "no quality signals available"})
    return out


def _format_pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _explain(*, verdict_class: str, golden: dict, flags: dict, drift: dict, material: bool,
             deployment: Deployment, requested: list[dict], quality: dict | None = None) -> str:
    """The plain-language text, generated from the structured evidence only."""
    parts: list[str] = []
    for v in golden["versions"]:
        if not v.get("comparison"):
            parts.append(f"golden evidence missing: {v['missing']}")
            continue
        drop = v["relative_drop_pct"]
        sign = "−" if drop > 0 else "+"
        lo, hi = v["ci_pct"]
        # Enough digits that the drop reads on the right side of the review threshold it is compared with.
        d = formatting.comparison_digits(drop, deployment.review_drop_pct, digits=1)
        text = (f"golden pass rate {_format_pct(v['baseline_pass_rate'])} → {_format_pct(v['pass_rate'])} "
                f"({sign}{abs(drop):.{d}f}%, 95% CI {lo:.1f}% to {hi:.1f}%, exact McNemar p={v['p_value']:.3g}, "
                f"model {v['model_version']}, {v['items_common']} paired items)")
        if v["regressed"]:
            cats = list(v["regressed_by_category"])
            text += f", {v['regressed']} item{'s' if v['regressed'] != 1 else ''} regressed"
            if cats:
                text += f", mostly in {cats[0]}" if len(cats) > 1 else f", all in {cats[0]}"
        if v["state"] == rules.OK:
            if drop > deployment.review_drop_pct:
                text += f", beyond the {deployment.review_drop_pct:g}% tolerance but not significant"
            else:
                text += f", within the {deployment.review_drop_pct:g}% tolerance"
        elif v["state"] == rules.MISSING:
            text += f"; not conclusive: {v['missing']}"
        if v["items_added"] or v["items_changed"] or v["items_retired"]:
            text += (f" (golden set v{v['baseline_golden_version']} → v{v['golden_version']}: {v['items_added']} added, "
                     f"{v['items_changed']} changed, {v['items_retired']} retired, compared apart)")
        parts.append(text)
    if golden.get("note"):
        parts.append(golden["note"])
    for r in requested:
        if r.get("run_id"):
            parts.append(f"golden evaluation #{r['run_id']} of model {r['model_version']} {r['status']}")
        else:
            parts.append(f"golden evaluation of model {r['model_version']} {r['status']}")
    if material:
        parts.append(f"material degradation (more than {deployment.material_drop_pct:g}% below baseline accuracy)")
    test = flags.get("test")
    if flags["state"] == rules.PENDING:
        parts.append(f"flag evidence pending: {flags['missing']}")
    elif test is not None:
        arrow = "up significantly" if flags["increased"] else "not up"
        parts.append(f"confirmed-bad rate {test['rate_base'] * 100:.1f}% → {test['rate_now'] * 100:.1f}% "
                     f"({arrow}, Fisher exact p={test['p_value']:.3f})")
    elif flags.get("samples"):
        parts.append(flags.get("missing") or "no baseline period to compare flags with")
    if quality and quality.get("state") == rules.DEGRADED:
        for score in quality["scores"]:
            if score["degraded"]:
                def num(x, spec):
                    return "n/a" if x is None else format(x, spec)

                parts.append(
                    f"quality-score drop: {score['name']} mean {num(score['baseline_mean'], '.3g')} → "
                    f"{num(score['window_mean'], '.3g')} ({num(score['relative_change_pct'], '+.1f')}%, 95% CI "
                    f"{num(score['ci_low_pct'], '+.1f')}% to {num(score['ci_high_pct'], '+.1f')}%, Mann-Whitney "
                    f"p={num(score['p_value'], '.3g')}), beyond the {quality['band_pct']:g}% band")
    for target, label in (("prompts", "prompt"), ("responses", "response")):
        d = drift.get(target)
        src = _drift_source(label, d)
        if src["state"] == rules.MISSING:
            if d is not None:
                parts.append(f"{label} {src['missing']}")
            continue
        if src["state"] == "drift":
            if src["beyond_threshold"]:
                stat = "; ".join(_versus(_stat_label(s["statistic"]), s["value"], s["threshold"])
                                 for s in src["beyond_threshold"])
                parts.append(f"{label} drift: {stat}")
            else:
                parts.append(f"{label} drift")
            if target == "prompts" and d["topics"] and (d["novel_share"] or 0) > 0:
                labels = "; ".join(", ".join((t.get("keywords") or [])[:3]) for t in d["topics"][:3] if t.get("keywords"))
                n = len(d["topics"])
                parts.append(f"{_format_pct(d['novel_share'])} of prompts in {n} new topic{'s' if n != 1 else ''}"
                             + (f": {labels}" if labels else ""))
        elif d["js"] is not None and d["js_threshold"] is not None:
            parts.append(f"{label} no drift: {_versus('JS', d['js'], d['js_threshold'])}")
    head = {
        rules.GENUINE_DEGRADATION: "Genuine degradation",
        rules.BENIGN_CHANGE: "Benign change",
        rules.STABLE: "Stable",
        rules.INSUFFICIENT_EVIDENCE: "Insufficient evidence",
    }[verdict_class]
    return f"{head}: " + "; ".join(parts) + "."


_STAT_LABEL = {"js": "JS", "wasserstein": "Wasserstein", "mmd_p_value": "MMD p"}


def _stat_label(name: str) -> str:
    """A statistic's short name for people: the fixed columns' own, else the registry's label."""
    if name in _STAT_LABEL:
        return _STAT_LABEL[name]
    try:
        return stat_registry.get(name).label
    except KeyError:
        return name.replace("_", " ")


def _versus(label: str, value: float, threshold: float) -> str:
    # Enough digits that the printed comparison is true: "JS 0.0512 (threshold 0.0498)", never "0.05 (0.05)".
    a, b = formatting.compare_pair(value, threshold)
    return f"{label} {a} (threshold {b})"


def _history_windows(policy: AlertPolicy) -> int:
    # Hysteresis needs as many windows as its longest run; the retraining rule its JS run.
    return max(policy.code_red_open_after, policy.review_open_after, policy.close_after, policy.retrain_js_windows) + 1


@transaction.atomic
def verdict_compute(*, deployment: Deployment, window_start: dt.datetime, window_end: dt.datetime,
                    cascade: bool = True) -> Verdict:
    """Compute (or recompute) the verdict of one window, then open/close alerts and advise retraining.

    A recomputation that finds the same evidence changes nothing. One that finds different evidence
    (late labels, evaluations, drift runs) stores a new version of the verdict and marks the earlier
    one superseded; with `cascade` the later windows are recomputed too, so alerts and hysteresis after
    it follow. Never opens a second alert nor sends a second notification for the same run of bad windows.
    """
    _check_window(window_start, window_end)
    # Serialise verdicts of one deployment: alerts depend on the previous windows' verdicts.
    Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
    policy = selectors.policy_get(deployment=deployment)
    golden = _golden_inputs(deployment=deployment, window_start=window_start, window_end=window_end, policy=policy)
    requested = _golden_request(deployment=deployment, golden=golden, window_start=window_start, window_end=window_end)
    flags = _flag_inputs(deployment=deployment, window_start=window_start, window_end=window_end, policy=policy)
    drift = _drift_inputs(deployment=deployment, window_start=window_start, window_end=window_end)
    extra = {name: fn(deployment=deployment, window_start=window_start, window_end=window_end)
             for name, fn in EVIDENCE_SOURCES.items()}
    prompt_drift = drift["prompts"]["drifted"] if drift["prompts"] else None
    response_drift = drift["responses"]["drifted"] if drift["responses"] else None
    drop = golden.get("relative_drop_pct")
    quality_state = (extra.get("quality") or {}).get("state", rules.MISSING)
    quality_requested = _quality_request(deployment=deployment, quality=extra.get("quality"),
                                         window_start=window_start, window_end=window_end)
    result = rules.classify(
        golden=golden["state"], flags=flags["state"], prompt_drift=prompt_drift, response_drift=response_drift,
        quality=quality_state,
        golden_missing="golden evidence missing: " + ("; ".join(golden["missing"]) or "no evaluation"),
    )
    material = golden["state"] == rules.DEGRADED and drop is not None and drop > deployment.material_drop_pct
    inputs = {
        "evidence": _evidence(golden=golden, flags=flags, drift=drift, extra=extra),
        "golden": golden, "flags": flags, "drift": drift, "reasons": list(result.reasons),
        "requested_evaluations": requested, "quality_evaluation": quality_requested,
        "thresholds": {
            "code_red_drop_pct": deployment.code_red_drop_pct, "review_drop_pct": deployment.review_drop_pct,
            "material_drop_pct": deployment.material_drop_pct, "novel_share_alert": deployment.novel_share_alert,
            "flag_alpha": policy.flag_alpha, "golden_alpha": policy.golden_alpha,
            "golden_max_age_days": policy.golden_max_age_days, "golden_max_error_share": policy.golden_max_error_share,
            "flag_pending_max_share": policy.flag_pending_max_share,
        },
    }
    fields = {
        "verdict_class": result.verdict_class, "inputs": json.loads(json.dumps(inputs, default=str)),
        "explanation": _explain(verdict_class=result.verdict_class, golden=golden, flags=flags, drift=drift,
                                quality=extra.get("quality"),
                                material=material, deployment=deployment, requested=requested),
        "golden_pass_rate": golden.get("pass_rate"), "baseline_pass_rate": golden.get("baseline_pass_rate"),
        "relative_drop_pct": drop, "material_degradation": material,
        "prompt_drift": prompt_drift, "response_drift": response_drift,
    }
    current = Verdict.objects.select_for_update().filter(
        deployment=deployment, window_start=window_start, window_end=window_end, superseded_at__isnull=True).first()
    changed = current is None or any(getattr(current, k) != v for k, v in fields.items())
    if current is None:
        verdict = Verdict.objects.create(deployment=deployment, window_start=window_start, window_end=window_end, **fields)
    elif changed:
        now = timezone.now()
        current.superseded_at = now
        current.save(update_fields=["superseded_at"])
        verdict = Verdict.objects.create(deployment=deployment, window_start=window_start, window_end=window_end,
                                         version=current.version + 1, **fields)
        current.superseded_by = verdict
        current.save(update_fields=["superseded_by"])
        logger.info("verdict of %s %s recomputed: %s → %s (version %s)", deployment.slug, window_start,
                    current.verdict_class, verdict.verdict_class, verdict.version)
    else:
        verdict = current
    grid = selectors.verdict_grid(deployment=deployment, end=window_end, step=window_end - window_start,
                                  windows=_history_windows(policy))
    _alerts_apply(verdict=verdict, history=grid, policy=policy)
    _advice_apply(verdict=verdict, history=grid, policy=policy)
    if changed:  # a new verdict (or a new version of one): its figures go to the metric sinks, when enabled
        metric_sinks.queue_export(kind="verdict", object_id=verdict.id)
    if changed and current is not None and cascade:
        for later in selectors.verdict_list(deployment=deployment).filter(window_start__gte=window_end):
            verdict_compute(deployment=deployment, window_start=later.window_start, window_end=later.window_end,
                            cascade=False)
    return verdict


# --- Alerts -----------------------------------------------------------------------------------------

_TIER_RANK = {rules.REVIEW: 1, rules.CODE_RED: 2}


def _signal_state(verdict: Verdict | None, signal: str) -> str | None:
    """The tier a verdict puts a signal in ("code_red", "review", "" for clean) or None (no evidence or no verdict)."""
    if verdict is None:
        return None
    if signal == Alert.Signal.GOLDEN_PASS_RATE:
        golden = verdict.inputs.get("golden") or {}
        state = golden.get("state")
        if state == rules.DEGRADED:
            return golden.get("tier") or rules.REVIEW
        return "" if state == rules.OK else None
    state = (verdict.inputs.get("flags") or {}).get("state")
    return rules.REVIEW if state == rules.DEGRADED else "" if state == rules.OK else None


def _alert_title(verdict: Verdict, signal: str, tier: str) -> str:
    label = "Code red" if tier == rules.CODE_RED else "Weekly review"
    if signal == Alert.Signal.GOLDEN_PASS_RATE:
        g = verdict.inputs["golden"]
        lo, hi = g["ci_pct"]
        return (f"{label}: {verdict.deployment.name} golden pass rate {_format_pct(g['baseline_pass_rate'])} → "
                f"{_format_pct(g['pass_rate'])} (−{g['relative_drop_pct']:.1f}%, 95% CI {lo:.0f}–{hi:.0f}%, "
                f"p={g['p_value']:.2g}, model {g['model_version']})")
    t = verdict.inputs["flags"]["test"]
    return (f"{label}: {verdict.deployment.name} confirmed-bad rate {t['rate_base'] * 100:.1f}% → "
            f"{t['rate_now'] * 100:.1f}% (p={t['p_value']:.3f})")


def _alerts_apply(*, verdict: Verdict, history: list[Verdict | None], policy: AlertPolicy) -> None:
    """Open, escalate or close alerts at `verdict`, the last entry of `history` (the window grid, gaps as None)."""
    deployment = verdict.deployment
    for signal in Alert.Signal.values:
        states = [_signal_state(v, signal) for v in history]
        current = selectors.alert_open_get(deployment=deployment, signal=signal)
        code_red = rules.hysteresis(
            [None if s is None else s == rules.CODE_RED for s in states],
            is_open=current is not None and current.tier == rules.CODE_RED,
            open_after=policy.code_red_open_after, close_after=policy.close_after,
        )
        review = rules.hysteresis(
            [None if s is None else s in (rules.REVIEW, rules.CODE_RED) for s in states],
            is_open=current is not None, open_after=policy.review_open_after, close_after=policy.close_after,
        )
        if current is not None:
            if current.window_start is not None and current.window_start > verdict.window_start:
                continue  # a recomputed earlier window never touches an alert opened after it
            if review.close:
                _alert_close(alert=current, verdict=verdict, clean=review.clean)
            elif code_red.open and current.tier == rules.REVIEW:
                _alert_escalate(alert=current, verdict=verdict)
            else:
                current.last_verdict = verdict
                current.save(update_fields=["last_verdict"])
            continue
        tier = rules.CODE_RED if code_red.open else rules.REVIEW if review.open else None
        if tier is None:
            continue
        # The run of breaching windows that opens this alert; an alert of this tier (or higher) already
        # opened during the same run, even if a user resolved it since, is not opened again.
        run_length = code_red.breaches if tier == rules.CODE_RED else review.breaches
        run_start = history[-run_length].window_start
        earlier = Alert.objects.filter(
            deployment=deployment, signal=signal, opened_by_verdict__window_start__gte=run_start,
        ).values_list("tier", flat=True)
        if any(_TIER_RANK[t] >= _TIER_RANK[tier] for t in earlier):
            continue
        _alert_open(verdict=verdict, signal=signal, tier=tier)


def _alert_open(*, verdict: Verdict, signal: str, tier: str) -> Alert:
    alert = Alert.objects.create(
        deployment=verdict.deployment, signal=signal, tier=tier, title=_alert_title(verdict, signal, tier)[:300],
        opened_by_verdict=verdict, last_verdict=verdict,
        window_start=verdict.window_start, window_end=verdict.window_end,
    )
    logger.warning("alert %s opened: %s", alert.pk, alert.title)
    if tier == rules.CODE_RED:
        _queue_notify(alert)
    return alert


def _alert_escalate(*, alert: Alert, verdict: Verdict) -> None:
    alert.tier = rules.CODE_RED
    alert.title = _alert_title(verdict, alert.signal, rules.CODE_RED)[:300]
    alert.escalated_at = timezone.now()
    alert.last_verdict = verdict
    if alert.status == Alert.Status.ACKNOWLEDGED:
        # Acknowledging a review item is not acknowledging a code red.
        alert.status = Alert.Status.OPEN
    alert.save(update_fields=["tier", "title", "escalated_at", "last_verdict", "status"])
    _queue_notify(alert)


def _alert_close(*, alert: Alert, verdict: Verdict, clean: int) -> None:
    now = timezone.now()
    alert.status, alert.closed_at, alert.resolved_at = Alert.Status.RESOLVED, now, now
    alert.resolved_comment = f"Closed automatically after {clean} consecutive clean window{'s' if clean != 1 else ''}."
    alert.last_verdict = verdict
    alert.save(update_fields=["status", "closed_at", "resolved_at", "resolved_comment", "last_verdict"])


def _queue_notify(alert: Alert) -> None:
    from .tasks import alert_notify_task

    alert_id = alert.pk
    transaction.on_commit(lambda: alert_notify_task.delay(alert_id), robust=True)


def _comment(comment: str) -> str:
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError({"comment": "A comment is required: say what you checked or did."})
    if len(comment) > MAX_COMMENT_CHARS or "\x00" in comment:
        raise ValidationError({"comment": f"The comment must be at most {MAX_COMMENT_CHARS} characters without NUL."})
    return comment


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user, comment: str) -> Alert:
    """Someone is on it: record who, when and what they said. Only an open alert can be acknowledged."""
    comment = _comment(comment)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != Alert.Status.OPEN:
        raise AlertStateError(
            f"Alert #{alert.pk} is {alert.get_status_display().lower()}; only an open alert can be acknowledged."
        )
    alert.status, alert.acknowledged_by, alert.acknowledged_at = Alert.Status.ACKNOWLEDGED, user, timezone.now()
    alert.acknowledged_comment = comment
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "acknowledged_comment"])
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, user, comment: str) -> Alert:
    """Close an open or acknowledged alert by hand, with the reason."""
    comment = _comment(comment)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == Alert.Status.RESOLVED:
        raise AlertStateError(f"Alert #{alert.pk} is already resolved.")
    now = timezone.now()
    alert.status, alert.resolved_by, alert.resolved_at, alert.closed_at = Alert.Status.RESOLVED, user, now, now
    alert.resolved_comment = comment
    alert.save(update_fields=["status", "resolved_by", "resolved_at", "closed_at", "resolved_comment"])
    return alert


# --- Notifications ------------------------------------------------------------------------------------


def _recipients(policy: AlertPolicy) -> list[str]:
    raw = policy.alert_emails or ",".join(getattr(settings, "DRIFTDESK_ALERT_EMAILS", []) or [])
    return [a.strip() for a in raw.split(",") if a.strip()]


def _webhook_body(alert: Alert) -> dict:
    verdict = alert.last_verdict or alert.opened_by_verdict
    base = getattr(settings, "DRIFTDESK_BASE_URL", "").rstrip("/")
    link = f"{base}/alerts/{alert.pk}/" if base else f"/alerts/{alert.pk}/"
    return {
        # Slack's incoming webhooks read `text` (and `blocks`); other receivers get the structured fields.
        "text": f":rotating_light: {alert.title}\n{verdict.explanation}\n<{link}|Open alert #{alert.pk}>",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": verdict.explanation[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Alert #{alert.pk}> · {alert.deployment.slug} · window {verdict.window_start:%Y-%m-%d} → {verdict.window_end:%Y-%m-%d}"}]},
        ],
        "alert": {
            "id": alert.pk, "deployment": alert.deployment.slug, "signal": alert.signal, "tier": alert.tier,
            "status": alert.status, "opened_at": alert.opened_at.isoformat(), "verdict_class": verdict.verdict_class,
            "relative_drop_pct": verdict.relative_drop_pct, "material_degradation": verdict.material_degradation,
        },
    }


def alert_notify(*, alert: Alert) -> list[AlertDelivery]:
    """Send the code-red e-mail and webhook POST for an alert, logging every attempt.

    Not atomic on purpose: each delivery attempt is committed as it happens, so the log survives a
    crash half-way. Skips alerts already notified for their tier (a redelivered task).
    """
    alert = Alert.objects.select_related("deployment", "last_verdict", "opened_by_verdict").get(pk=alert.pk)
    if alert.notified_tier == alert.tier or alert.tier != rules.CODE_RED:
        return []
    # Claim the notification first: two workers racing on one alert never both send.
    claimed = Alert.objects.filter(pk=alert.pk).exclude(notified_tier=alert.tier).update(notified_tier=alert.tier)
    if not claimed:
        return []
    policy = selectors.policy_get(deployment=alert.deployment)
    verdict = alert.last_verdict or alert.opened_by_verdict
    out: list[AlertDelivery] = []
    recipients = _recipients(policy)
    if recipients:
        try:
            send_mail(
                subject=f"[Driftdesk] {alert.title}"[:250],
                message=f"{alert.title}\n\n{verdict.explanation}\n\nAlert #{alert.pk}: {_webhook_body(alert)['alert']}",
                from_email=None, recipient_list=recipients, fail_silently=False,
            )
            out.append(AlertDelivery.objects.create(alert=alert, channel="email", target=", ".join(recipients), ok=True))
        except Exception as exc:  # any mail backend error goes to the log, the webhook still goes out
            out.append(AlertDelivery.objects.create(
                alert=alert, channel="email", target=", ".join(recipients), ok=False, error=f"{type(exc).__name__}: {exc}"
            ))
    url = policy.webhook_url or getattr(settings, "DRIFTDESK_ALERT_WEBHOOK_URL", "")
    if url:
        attempts = webhook.post_json(
            url, _webhook_body(alert),
            attempts=getattr(settings, "DRIFTDESK_WEBHOOK_ATTEMPTS", 3),
            timeout=getattr(settings, "DRIFTDESK_WEBHOOK_TIMEOUT", 5.0),
            backoff=getattr(settings, "DRIFTDESK_WEBHOOK_BACKOFF", 1.0),
        )
        for a in attempts:
            out.append(AlertDelivery.objects.create(
                alert=alert, channel="webhook", target=url[:1000], attempt=a.attempt,
                status_code=a.status_code, ok=a.ok, error=a.error,
            ))
    if not recipients and not url:
        logger.warning("code red alert %s: no DRIFTDESK_ALERT_EMAILS nor webhook configured", alert.pk)
    return out


# --- Retraining advice --------------------------------------------------------------------------------


def _advice_apply(*, verdict: Verdict, history: list[Verdict | None], policy: AlertPolicy) -> None:
    deployment = verdict.deployment
    golden = verdict.inputs.get("golden") or {}
    prompts = (verdict.inputs.get("drift") or {}).get("prompts") or {}
    flags_up = (verdict.inputs.get("flags") or {}).get("state") == rules.DEGRADED
    stable = golden.get("state") == rules.OK and not flags_up
    novel = prompts.get("novel_share")
    js_hist = [
        (((v.inputs.get("drift") or {}).get("prompts") or {}).get("js"),
         ((v.inputs.get("drift") or {}).get("prompts") or {}).get("js_threshold")) if v is not None else (None, None)
        for v in history
    ]
    reasons = []
    if novel is not None and novel >= deployment.novel_share_alert:
        reasons.append(f"{_format_pct(novel)} of prompts fall in topics unseen at fine-tuning time "
                       f"(advice from {_format_pct(deployment.novel_share_alert)})")
    if rules.js_above_for(js_hist, policy.retrain_js_windows):
        reasons.append(f"prompt JS above its threshold for {policy.retrain_js_windows} consecutive windows")
    if not (stable and reasons and prompts.get("topics") and prompts.get("drifted")):
        RetrainingAdvice.objects.filter(verdict=verdict).delete()
        return
    reason = "; ".join(reasons) + ", while the golden set is stable: curate these prompts as fine-tuning data."
    RetrainingAdvice.objects.update_or_create(
        verdict=verdict, defaults={"deployment": deployment, "topics": prompts["topics"], "reason": reason},
    )


def advice_export_jsonl(*, advice: RetrainingAdvice) -> str:
    """The advice's new-topic prompts as JSON lines, for fine-tuning data curation."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in selectors.advice_prompts(advice=advice))


# --- Schedule -------------------------------------------------------------------------------------------


def verdicts_scheduled(*, now: dt.datetime | None = None) -> list[Verdict]:
    """For each deployment, the verdict of its last complete window once that window's drift runs are done.

    Run hourly by celery beat (the PeriodicTask comes from migration verdicts.0002): a window whose
    drift runs are still queued is picked up on a later run. The policy's `recompute_windows` past
    windows that already have a verdict are recomputed first (oldest first), so labels, evaluations
    and drift runs that land late change their verdict (as a new, superseding version) and the
    alerts after them.
    """
    from drift_app import selectors as drift_selectors
    from drift_app.services import last_complete_window

    out = []
    for deployment in drift_selectors.deployment_all():
        start, end = last_complete_window(deployment=deployment, now=now or timezone.now())
        policy = selectors.policy_get(deployment=deployment)
        step = end - start
        past = [v for v in selectors.verdict_grid(deployment=deployment, end=start, step=step,
                                                  windows=policy.recompute_windows) if v is not None]
        for v in past:
            if not selectors.drift_runs_pending(deployment=deployment, start=v.window_start, end=v.window_end):
                verdict_compute(deployment=deployment, window_start=v.window_start, window_end=v.window_end, cascade=False)
        if selectors.drift_runs_pending(deployment=deployment, start=start, end=end):
            logger.info("verdict of %s %s skipped: drift runs still pending", deployment.slug, start)
            continue
        out.append(verdict_compute(deployment=deployment, window_start=start, window_end=end))
    return out


@transaction.atomic
def alert_policy_update(*, deployment: Deployment, **fields) -> AlertPolicy:
    policy = selectors.policy_get(deployment=deployment)
    allowed = {f.name for f in AlertPolicy._meta.get_fields()} - {"id", "deployment", "updated_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Unknown alert policy field(s): {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}.")
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    return policy
