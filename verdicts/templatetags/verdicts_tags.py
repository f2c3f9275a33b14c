"""The verdicts panel of the landing page, different for each role."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from drift_app import selectors as drift_selectors
from drift_app.roles import COMPLIANCE, ML_ENGINEER, SME, has_role

from .. import selectors
from ..models import Alert

register = template.Library()


def _first_url(*names: str) -> str:
    # The compliance reports live in another app; link to them once it is installed.
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return ""


@register.inclusion_tag("verdicts/home_panel.html", takes_context=True)
def verdicts_home(context):
    user = context["request"].user
    ctx = {
        "is_ml_engineer": has_role(user, ML_ENGINEER),
        "is_sme": has_role(user, SME),
        "is_compliance": has_role(user, COMPLIANCE),
    }
    if not (ctx["is_ml_engineer"] or ctx["is_sme"] or ctx["is_compliance"]):
        return ctx
    ctx["open_code_red"] = selectors.alert_list(deployment=None, tier=Alert.Tier.CODE_RED, open_only=True, viewer=user).count()
    ctx["open_review"] = selectors.alert_list(deployment=None, tier=Alert.Tier.REVIEW, open_only=True, viewer=user).count()
    if ctx["is_ml_engineer"]:
        rows = []
        for d in drift_selectors.deployment_list(user=user):
            latest = selectors.verdict_latest(deployment=d)
            prompts = ((latest.inputs.get("drift") or {}).get("prompts") or {}) if latest else {}
            rows.append({
                "deployment": d, "latest": latest,
                "open_alerts": selectors.alert_list(deployment=d, open_only=True, viewer=user),
                "js": prompts.get("js"), "js_threshold": prompts.get("js_threshold"),
                "novel_share": prompts.get("novel_share"),
            })
        ctx["rows"] = rows
    if ctx["is_sme"]:
        from goldenset import selectors as golden_selectors

        ctx["golden_to_review"] = golden_selectors.golden_review_queue(user=user).filter(own=0).count()
        ctx["deployments"] = drift_selectors.deployment_list(user=user)
    if ctx["is_compliance"]:
        ctx["recent_verdicts"] = selectors.verdict_list(deployment=None, viewer=user).order_by("-window_start", "deployment__name")[:8]
        ctx["material"] = (
            selectors.verdict_list(deployment=None, material_only=True, viewer=user).order_by("-window_start")[:8]
        )
        ctx["reports_url"] = _first_url("compliance:report-list", "compliance:reports", "compliance:index")
    return ctx


@register.filter
def state_label(state) -> str:
    """An evidence state ("no_drift", "pending") as words a reader expects ("No drift", "Pending labels")."""
    return selectors.STATE_LABELS.get(state, str(state or "").replace("_", " ").capitalize())
