"""Printing a statistic beside its threshold with digits enough to be true.

"JS 0.050 (threshold 0.050)" must never stand for a drift decision: both numbers are printed with
the fewest significant digits (at least 3) at which a value above its threshold also reads above it.
"""

from __future__ import annotations

import math

from django import template

register = template.Library()


def decision_digits(value: float, threshold: float, *, minimum: int = 3, maximum: int = 10) -> int:
    """Significant digits at which value and threshold, rounded, compare as they do unrounded."""
    for digits in range(minimum, maximum + 1):
        a, b = float(f"{value:.{digits}g}"), float(f"{threshold:.{digits}g}")
        if (a > b) == (value > threshold) and (a == b) == (value == threshold):
            return digits
    return maximum


@register.filter
def against(value, threshold) -> str:
    """``{{ r.js|against:r.js_threshold }}`` -> "0.05012 (threshold 0.05009)"."""
    if value is None:
        return ""
    value = float(value)
    if threshold is None or not math.isfinite(value) or not math.isfinite(float(threshold)):
        return f"{value:.3g}"
    threshold = float(threshold)
    digits = decision_digits(value, threshold)
    return f"{value:.{digits}g} (threshold {threshold:.{digits}g})"
