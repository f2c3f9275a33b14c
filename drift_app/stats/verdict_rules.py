"""The verdict rules as pure functions: no Django, no database, plain numbers in, frozen dataclasses out.

Kept apart from the services so the maths can be checked with plain pytest and read in one place:
  * `two_proportion_test`: is the confirmed-bad rate now higher than in the baseline period?
  * `golden_tier`: which alert tier a relative golden pass-rate drop falls in;
  * `classify`: the verdict class from the golden set (primary), the flags and the drift;
  * `hysteresis`: whether an alert opens or closes given the recent windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

GENUINE_DEGRADATION = "genuine_degradation"
BENIGN_CHANGE = "benign_change"
STABLE = "stable"
INSUFFICIENT_EVIDENCE = "insufficient_evidence"

CODE_RED = "code_red"
REVIEW = "review"


@dataclass(frozen=True)
class TwoProportionResult:
    """One-sided two-proportion z-test of H1: rate now > rate in the baseline period."""

    count_now: int
    total_now: int
    count_base: int
    total_base: int
    rate_now: float
    rate_base: float
    z: float
    p_value: float
    alpha: float
    min_count: int = 5

    @property
    def increased(self) -> bool:
        # The normal approximation is poor for a handful of events: one bad answer in a week against
        # none in the baseline gives p ~ 0.04. Below `min_count` events now, a rise never counts.
        return self.count_now >= self.min_count and self.p_value < self.alpha

    def as_dict(self) -> dict:
        return {
            "count_now": self.count_now, "total_now": self.total_now,
            "count_base": self.count_base, "total_base": self.total_base,
            "rate_now": self.rate_now, "rate_base": self.rate_base,
            "z": self.z, "p_value": self.p_value, "alpha": self.alpha, "min_count": self.min_count,
            "increased": self.increased,
        }


def two_proportion_test(
    *, count_now: int, total_now: int, count_base: int, total_base: int, alpha: float = 0.05, min_count: int = 5,
) -> TwoProportionResult | None:
    """Pooled two-proportion z-test, one-sided (is the rate now higher?). None when a side has no samples.

    When neither period has a single event the rates are equal (0 = 0): z = 0, p = 0.5.
    """
    for name, k, n in (("now", count_now, total_now), ("base", count_base, total_base)):
        if n < 0 or k < 0 or k > n:
            raise ValueError(f"{name}: count must be within [0, total], got {k}/{n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    if total_now == 0 or total_base == 0:
        return None
    p1, p0 = count_now / total_now, count_base / total_base
    pooled = (count_now + count_base) / (total_now + total_base)
    se = math.sqrt(pooled * (1 - pooled) * (1 / total_now + 1 / total_base))
    if se == 0:
        z = 0.0
    else:
        z = (p1 - p0) / se
    # Upper tail of the standard normal: P(Z >= z) = erfc(z / sqrt 2) / 2.
    p_value = 0.5 * math.erfc(z / math.sqrt(2))
    return TwoProportionResult(count_now, total_now, count_base, total_base, p1, p0, z, p_value, alpha, min_count)


def relative_drop_pct(baseline_rate: float, current_rate: float) -> float:
    """How much lower `current_rate` is than `baseline_rate`, in percent of the baseline (negative: it rose)."""
    if baseline_rate <= 0:
        return 0.0
    return (baseline_rate - current_rate) / baseline_rate * 100.0


def golden_tier(drop_pct: float | None, *, code_red_pct: float, review_pct: float) -> str | None:
    """`code_red` above code_red_pct, `review` above review_pct, else None (a drop of None: no evidence)."""
    if drop_pct is None:
        return None
    if drop_pct > code_red_pct:
        return CODE_RED
    if drop_pct > review_pct:
        return REVIEW
    return None


@dataclass(frozen=True)
class Classification:
    verdict_class: str
    reasons: tuple[str, ...]


def classify(
    *,
    golden_drop_pct: float | None,
    tolerance_pct: float,
    flags_increased: bool | None,
    prompt_drift: bool | None,
    response_drift: bool | None,
) -> Classification:
    """The verdict class of one window.

    The golden set is the primary evidence: a drop beyond `tolerance_pct` (the review threshold) is
    genuine degradation, and so is a significant rise of the confirmed-bad rate. Drift alone, with the
    golden set within tolerance and flags not up, is a benign change. Without a golden evaluation
    and without a significant flag rise nothing tells benign from genuine: insufficient evidence.
    """
    reasons: list[str] = []
    golden_known = golden_drop_pct is not None
    golden_down = golden_known and golden_drop_pct > tolerance_pct
    if golden_down:
        reasons.append("golden pass rate dropped beyond tolerance")
    if flags_increased:
        reasons.append("confirmed-bad rate rose significantly")
    if golden_down or flags_increased:
        return Classification(GENUINE_DEGRADATION, tuple(reasons))
    if not golden_known:
        return Classification(INSUFFICIENT_EVIDENCE, ("no golden-set evaluation to compare with the baseline",))
    drift = bool(prompt_drift) or bool(response_drift)
    if drift:
        which = [name for name, d in (("prompt", prompt_drift), ("response", response_drift)) if d]
        return Classification(BENIGN_CHANGE, (f"{' and '.join(which)} drift with the golden set stable",))
    return Classification(STABLE, ("golden set stable, no significant drift, flags not up",))


@dataclass(frozen=True)
class HysteresisDecision:
    """`open` / `close`: a transition happens in this window; `breaches` / `clean` count the recent run."""

    open: bool
    close: bool
    breaches: int
    clean: int


def hysteresis(history: Sequence[bool | None], *, is_open: bool, open_after: int, close_after: int) -> HysteresisDecision:
    """Decide, at the newest window, whether an alert opens or closes.

    `history` holds one entry per consecutive window, oldest first: True breached, False clean,
    None no evidence (it breaks a run of breaches and of clean windows alike, so a gap never
    opens nor closes an alert). An alert opens after `open_after` consecutive breaches and closes
    after `close_after` consecutive clean windows.
    """
    if open_after < 1 or close_after < 1:
        raise ValueError("open_after and close_after must be at least 1")
    breaches = clean = 0
    for value in reversed(history):
        if value is True and clean == 0:
            breaches += 1
        elif value is False and breaches == 0:
            clean += 1
        else:
            break
    return HysteresisDecision(
        open=not is_open and breaches >= open_after,
        close=is_open and clean >= close_after,
        breaches=breaches,
        clean=clean,
    )


def js_above_for(js_history: Sequence[tuple[float | None, float | None]], windows: int) -> bool:
    """True when the newest `windows` entries of (js, threshold) all have js above its threshold."""
    if windows < 1 or len(js_history) < windows:
        return False
    return all(js is not None and thr is not None and js > thr for js, thr in js_history[-windows:])
