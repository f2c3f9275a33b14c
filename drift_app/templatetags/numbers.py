"""`{% vs value threshold %}`: a figure beside its threshold with enough digits to be true (drift_app.formatting)."""

from __future__ import annotations

from django import template

from drift_app import formatting

register = template.Library()


@register.simple_tag
def vs(value, threshold, digits: int = 2, label: str = "threshold") -> str:
    """"0.0512 (above the threshold 0.0498)"; "–" when there is no value."""
    if value is None or value == "":
        return "–"
    if threshold is None or threshold == "":
        return formatting.compare_pair(value, None, digits=digits)[0]
    a, b = formatting.compare_pair(float(value), float(threshold), digits=digits)
    return f"{a} ({formatting.relation(float(value), float(threshold))} the {label} {b})"


@register.filter
def digits_vs(value, threshold):
    """The value alone, printed with the digits its comparison with `threshold` needs."""
    if value is None or value == "":
        return "–"
    return formatting.compare_pair(float(value), None if threshold in (None, "") else float(threshold))[0]
