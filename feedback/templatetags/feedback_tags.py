from __future__ import annotations

import math

from django import template

from drift_app.roles import COMPLIANCE, ML_ENGINEER, POWER_USER, SME, has_role

from .. import selectors
from ..models import Flag, Reason

register = template.Library()


@register.inclusion_tag("feedback/flag_control.html", takes_context=True)
def flag_control(context, sample):
    """The "flag this answer" control (power users) and the flag count (SMEs, compliance) on a sample page."""
    user = context["request"].user
    # The roles held in the sample's team, not in any team: a power user of this team who is an SME elsewhere
    # sees no other user's flags here (issue 14).
    team = sample.deployment.team_id
    can_flag = has_role(user, POWER_USER, team=team)
    can_read = has_role(user, SME, COMPLIANCE, ML_ENGINEER, team=team)
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "sample": sample,
        "can_flag": can_flag,
        "my_flag": selectors.user_flag_for_sample(user=user, sample=sample) if can_flag else None,
        "can_read": can_read,
        "flags": list(Flag.objects.filter(sample=sample).select_related("flagged_by")) if can_read else [],
        "reasons": Reason.choices,
        # What the user typed, kept when the flag was refused (feedback.views.FlagSampleView).
        "flag_form": context.get("flag_form") or {},
    }


@register.inclusion_tag("feedback/home_summary.html", takes_context=True)
def feedback_home(context):
    user = context["request"].user
    ctx = {"is_power_user": has_role(user, POWER_USER), "is_reader": has_role(user, SME, COMPLIANCE, ML_ENGINEER)}
    if ctx["is_power_user"]:
        mine = selectors.flag_list(user=user, viewer=user)
        ctx["mine_total"] = mine.count()
        ctx["mine_resolved"] = mine.filter(status=Flag.Status.RESOLVED).count()
    if ctx["is_reader"]:
        ctx["open"] = selectors.flag_list(status=Flag.Status.OPEN, viewer=user).count()
        ctx["adjudication"] = selectors.flag_list(status=Flag.Status.ADJUDICATION, viewer=user).count()
        ctx["is_sme"] = has_role(user, SME)
    return ctx


@register.filter
def pct(value, digits: int = 1) -> str:
    """0.0123 -> "1.2%"; None or nan -> "–"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value * 100:.{int(digits)}f}%"


@register.filter
def num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{int(digits)}f}"


@register.filter
def hours(delta) -> str:
    h = delta.total_seconds() / 3600
    return f"{h:.0f} h" if h < 48 else f"{h / 24:.0f} d"
