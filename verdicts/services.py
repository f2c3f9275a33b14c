"""Writes: verdicts, the alerts they open and close, notifications, retraining advice."""

from __future__ import annotations

import datetime as dt
import json
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from drift_app.models import Deployment, DriftRun
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


def _golden_inputs(*, deployment: Deployment, window_end: dt.datetime) -> dict | None:
    ev = selectors.golden_evidence(deployment=deployment, before=window_end)
    if ev is None:
        return None
    drop = rules.relative_drop_pct(ev.baseline_pass_rate, ev.pass_rate)
    return {
        "run_id": ev.run_id, "model_version": ev.model_version, "pass_rate": ev.pass_rate,
        "baseline_run_id": ev.baseline_run_id, "baseline_pass_rate": ev.baseline_pass_rate,
        "relative_drop_pct": round(drop, 2), "regressed": ev.regressed,
        "regressed_by_category": ev.regressed_by_category,
        "finished_at": ev.finished_at.isoformat() if ev.finished_at else None,
        "tier": rules.golden_tier(drop, code_red_pct=deployment.code_red_drop_pct, review_pct=deployment.review_drop_pct),
    }


def _flag_inputs(*, deployment: Deployment, window_start, window_end, alpha: float) -> dict:
    from feedback import selectors as feedback_selectors

    now = feedback_selectors.feedback_metrics(deployment=deployment, start=window_start, end=window_end)
    out = {
        "samples": now.samples, "flags": now.flags, "pending": now.pending,
        "flag_rate": now.flag_rate.rate if now.samples else None,
        "confirmed_bad": now.confirmed_bad_rate.count,
        "confirmed_bad_rate": now.confirmed_bad_rate.rate if now.samples else None,
        "outdated_rate": now.outdated_rate.rate if now.samples else None,
        "baseline_period": None, "test": None, "increased": None,
    }
    period = selectors.feedback_baseline_period(deployment=deployment)
    if period is None or not now.samples:
        return out
    base = feedback_selectors.feedback_metrics(deployment=deployment, start=period[0], end=period[1])
    test = rules.two_proportion_test(
        count_now=now.confirmed_bad_rate.count, total_now=now.confirmed_bad_rate.total,
        count_base=base.confirmed_bad_rate.count, total_base=base.confirmed_bad_rate.total, alpha=alpha,
    )
    out["baseline_period"] = [period[0].isoformat(), period[1].isoformat()]
    if test is not None:
        out["test"] = test.as_dict()
        out["increased"] = test.increased
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
            "mmd_p_value": run.mmd_p_value, "novel_share": run.novel_share,
            "topics": [
                {k: t.get(k) for k in ("size", "share", "keywords", "representative_texts", "sample_ids")}
                for t in (run.topics or [])
            ] if completed else [],
        }
    return out


def _format_pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _explain(*, verdict_class: str, golden: dict | None, flags: dict, drift: dict, material: bool,
             deployment: Deployment) -> str:
    parts: list[str] = []
    if golden is None:
        parts.append("no golden-set evaluation yet to compare with the baseline")
    else:
        drop = golden["relative_drop_pct"]
        sign = "−" if drop > 0 else "+"
        text = (f"golden pass rate {_format_pct(golden['baseline_pass_rate'])} → {_format_pct(golden['pass_rate'])} "
                f"({sign}{abs(drop):.0f}%, model {golden['model_version']})")
        if golden["regressed"]:
            cats = list(golden["regressed_by_category"])
            text += f", {golden['regressed']} item{'s' if golden['regressed'] != 1 else ''} regressed"
            if cats:
                text += f", mostly in {cats[0]}" if len(cats) > 1 else f", all in {cats[0]}"
        elif drop <= deployment.review_drop_pct:
            text += f", within the {deployment.review_drop_pct:g}% tolerance"
        parts.append(text)
    if material:
        parts.append(f"material degradation (more than {deployment.material_drop_pct:g}% below baseline accuracy)")
    test = flags.get("test")
    if test is not None:
        arrow = "up significantly" if flags["increased"] else "not up"
        if not flags["increased"] and test["p_value"] < test["alpha"]:
            arrow = f"not up: {test['count_now']} confirmed-bad answer{'s' if test['count_now'] != 1 else ''}, too few to tell"
        parts.append(
            f"confirmed-bad rate {test['rate_base'] * 100:.1f}% → {test['rate_now'] * 100:.1f}% ({arrow}, p={test['p_value']:.3f})"
        )
    elif flags.get("samples"):
        parts.append("no baseline period to compare flags with")
    for target, label in (("prompts", "prompt"), ("responses", "response")):
        d = drift.get(target)
        if d is None or d["drifted"] is None:
            if d is not None and d["status"] != DriftRun.Status.COMPLETED:
                parts.append(f"{label} drift not measured ({d['status'].replace('_', ' ')})")
            continue
        if d["js"] is not None and d["js_threshold"] is not None:
            what = "drift" if d["drifted"] else "no drift"
            parts.append(f"{label} {what}: JS {d['js']:.2f} (threshold {d['js_threshold']:.2f})")
        if target == "prompts" and d["topics"] and (d["novel_share"] or 0) > 0:
            labels = "; ".join(", ".join((t.get("keywords") or [])[:3]) for t in d["topics"][:3] if t.get("keywords"))
            n = len(d["topics"])
            parts.append(f"{_format_pct(d['novel_share'])} of prompts in {n} new topic{'s' if n != 1 else ''}"
                         + (f": {labels}" if labels else ""))
    head = {
        rules.GENUINE_DEGRADATION: "Genuine degradation",
        rules.BENIGN_CHANGE: "Benign change",
        rules.STABLE: "Stable",
        rules.INSUFFICIENT_EVIDENCE: "Insufficient evidence",
    }[verdict_class]
    return f"{head}: " + "; ".join(parts) + "."


@transaction.atomic
def verdict_compute(*, deployment: Deployment, window_start: dt.datetime, window_end: dt.datetime) -> Verdict:
    """Compute (or recompute) the verdict of one window, then open/close alerts and advise retraining.

    Idempotent per window: a second call updates the same Verdict and never opens a second alert
    nor sends a second notification for the same run of bad windows.
    """
    _check_window(window_start, window_end)
    # Serialise verdicts of one deployment: alerts depend on the previous windows' verdicts.
    Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
    policy = selectors.policy_get(deployment=deployment)
    golden = _golden_inputs(deployment=deployment, window_end=window_end)
    flags = _flag_inputs(deployment=deployment, window_start=window_start, window_end=window_end, alpha=policy.flag_alpha)
    drift = _drift_inputs(deployment=deployment, window_start=window_start, window_end=window_end)
    prompt_drift = drift["prompts"]["drifted"] if drift["prompts"] else None
    response_drift = drift["responses"]["drifted"] if drift["responses"] else None
    drop = golden["relative_drop_pct"] if golden else None
    result = rules.classify(
        golden_drop_pct=drop, tolerance_pct=deployment.review_drop_pct, flags_increased=flags["increased"],
        prompt_drift=prompt_drift, response_drift=response_drift,
    )
    material = drop is not None and drop > deployment.material_drop_pct
    inputs = {
        "golden": golden, "flags": flags, "drift": drift, "reasons": list(result.reasons),
        "thresholds": {
            "code_red_drop_pct": deployment.code_red_drop_pct, "review_drop_pct": deployment.review_drop_pct,
            "material_drop_pct": deployment.material_drop_pct, "novel_share_alert": deployment.novel_share_alert,
            "flag_alpha": policy.flag_alpha,
        },
    }
    verdict, _ = Verdict.objects.update_or_create(
        deployment=deployment, window_start=window_start, window_end=window_end,
        defaults={
            "verdict_class": result.verdict_class, "inputs": inputs,
            "explanation": _explain(verdict_class=result.verdict_class, golden=golden, flags=flags, drift=drift,
                                    material=material, deployment=deployment),
            "golden_pass_rate": golden["pass_rate"] if golden else None,
            "baseline_pass_rate": golden["baseline_pass_rate"] if golden else None,
            "relative_drop_pct": drop, "material_degradation": material,
            "prompt_drift": prompt_drift, "response_drift": response_drift,
        },
    )
    history = list(selectors.verdict_list(deployment=deployment).filter(window_end__lte=window_end))
    _alerts_apply(verdict=verdict, history=history, policy=policy)
    _advice_apply(verdict=verdict, history=history, policy=policy)
    return verdict


# --- Alerts -----------------------------------------------------------------------------------------

_TIER_RANK = {rules.REVIEW: 1, rules.CODE_RED: 2}


def _signal_state(verdict: Verdict, signal: str) -> str | None | bool:
    """The tier a verdict puts a signal in ("code_red", "review", "" for clean) or None (no evidence)."""
    if signal == Alert.Signal.GOLDEN_PASS_RATE:
        golden = verdict.inputs.get("golden")
        return None if golden is None else (golden.get("tier") or "")
    increased = (verdict.inputs.get("flags") or {}).get("increased")
    return None if increased is None else (rules.REVIEW if increased else "")


def _alert_title(verdict: Verdict, signal: str, tier: str) -> str:
    label = "Code red" if tier == rules.CODE_RED else "Weekly review"
    if signal == Alert.Signal.GOLDEN_PASS_RATE:
        g = verdict.inputs["golden"]
        return (f"{label}: {verdict.deployment.name} golden pass rate {_format_pct(g['baseline_pass_rate'])} → "
                f"{_format_pct(g['pass_rate'])} (−{g['relative_drop_pct']:.0f}%, model {g['model_version']})")
    t = verdict.inputs["flags"]["test"]
    return (f"{label}: {verdict.deployment.name} confirmed-bad rate {t['rate_base'] * 100:.1f}% → "
            f"{t['rate_now'] * 100:.1f}% (p={t['p_value']:.3f})")


def _alerts_apply(*, verdict: Verdict, history: list[Verdict], policy: AlertPolicy) -> None:
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


def _advice_apply(*, verdict: Verdict, history: list[Verdict], policy: AlertPolicy) -> None:
    deployment = verdict.deployment
    golden = verdict.inputs.get("golden")
    prompts = (verdict.inputs.get("drift") or {}).get("prompts") or {}
    stable = golden is not None and golden["relative_drop_pct"] <= deployment.review_drop_pct and not verdict.inputs["flags"]["increased"]
    novel = prompts.get("novel_share")
    js_hist = [
        (((v.inputs.get("drift") or {}).get("prompts") or {}).get("js"),
         ((v.inputs.get("drift") or {}).get("prompts") or {}).get("js_threshold"))
        for v in history
    ]
    reasons = []
    if novel is not None and novel >= deployment.novel_share_alert:
        reasons.append(f"{_format_pct(novel)} of prompts fall in topics unseen at fine-tuning time "
                       f"(advice from {_format_pct(deployment.novel_share_alert)})")
    if rules.js_above_for(js_hist, policy.retrain_js_windows):
        reasons.append(f"prompt JS above its threshold for {policy.retrain_js_windows} consecutive windows")
    if not (stable and reasons and prompts.get("topics")):
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
    drift runs are still queued is picked up on a later run; recomputing a window is harmless.
    """
    from drift_app import selectors as drift_selectors
    from drift_app.services import last_complete_window

    out = []
    for deployment in drift_selectors.deployment_all():
        start, end = last_complete_window(deployment=deployment, now=now or timezone.now())
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
