"""Numbers shown next to their thresholds, with enough digits that the comparison they print is true.

"JS 0.05 (threshold 0.05)" counted as drift when the value was 0.0512 and the threshold 0.0498: two
digits hid the comparison the verdict rests on. These helpers add digits until the printed numbers
compare the way the stored ones do (equal numbers print equal), and are used by the verdict
explanation, the pages and the reports alike.
"""

from __future__ import annotations

import math

MAX_DIGITS = 10


def _fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def comparison_digits(value: float, threshold: float, *, digits: int = 2) -> int:
    """The fewest decimals (at least `digits`) at which value and threshold print as different numbers
    when they differ, and in the same order as the unrounded numbers."""
    if value == threshold or not (math.isfinite(value) and math.isfinite(threshold)):
        return digits
    d = digits
    while d < MAX_DIGITS:
        a, b = float(_fmt(value, d)), float(_fmt(threshold, d))
        if (a > b) == (value > threshold) and a != b:
            return d
        d += 1
    return MAX_DIGITS


def compare_pair(value: float | None, threshold: float | None, *, digits: int = 2) -> tuple[str, str]:
    """value and threshold as strings with the same number of decimals, enough to tell them apart."""
    if value is None or threshold is None:
        return ("–" if value is None else _fmt(value, digits), "–" if threshold is None else _fmt(threshold, digits))
    d = comparison_digits(value, threshold, digits=digits)
    return _fmt(value, d), _fmt(threshold, d)


def relation(value: float, threshold: float) -> str:
    return "above" if value > threshold else "below" if value < threshold else "equal to"
