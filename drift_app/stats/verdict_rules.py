"""The verdict rules as pure functions: no Django, no database, plain numbers in, frozen dataclasses out.

Kept apart from the services so the maths can be checked with plain pytest and read in one place:
  * `paired_golden_comparison`: the golden pass-rate drop of one run against the baseline run, item by
    item on the items both evaluated, tested with the exact one-sided McNemar test (scipy `binomtest`
    on the discordant pairs) and given with a confidence interval;
  * `min_detectable_drop_pct` / `items_needed`: the power of a golden set of a given size;
  * `flag_rate_test`: is the confirmed-bad rate now higher than in the baseline period? (one-sided
    Fisher exact test, so a handful of events is never "significant" by a normal approximation);
  * `golden_tier`: which alert tier a relative golden pass-rate drop falls in;
  * `classify`: the verdict class from the evidence sources (golden set first, then flags, then drift);
  * `hysteresis`: whether an alert opens or closes given the recent windows of the window grid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

from scipy import stats as sps

GENUINE_DEGRADATION = "genuine_degradation"
BENIGN_CHANGE = "benign_change"
STABLE = "stable"
INSUFFICIENT_EVIDENCE = "insufficient_evidence"

CODE_RED = "code_red"
REVIEW = "review"

# States of one evidence source (golden, flags, ...), as stored in a verdict's structured evidence.
DEGRADED = "degraded"      # the source shows a significant quality drop
OK = "ok"                  # the source was measured and shows no significant drop
PENDING = "pending"        # the source exists but its labels/answers are not in yet
MISSING = "missing"        # no usable evidence (stale, incomplete, underpowered, never measured)

POWER = 0.8


# --- Golden set: paired exact comparison ------------------------------------------------------------


@dataclass(frozen=True)
class PairedComparison:
    """One run against the baseline run on the items both evaluated (same item, same revision).

    `regressed` (b): passed in the baseline, not now; `improved` (c): failed in the baseline, passes now.
    The exact one-sided McNemar test conditions on the b + c discordant pairs: under H0 (no change)
    b ~ Binomial(b + c, 1/2); p = P(B >= b). The drop is relative to the baseline pass rate, unrounded.
    """

    items: int
    baseline_passed: int
    current_passed: int
    regressed: int
    improved: int
    baseline_rate: float
    current_rate: float
    relative_drop_pct: float
    ci_low_pct: float
    ci_high_pct: float
    p_value: float
    alpha: float
    test: str = "mcnemar_exact_one_sided"

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def as_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def paired_golden_comparison(baseline: Sequence[bool], current: Sequence[bool], *, alpha: float = 0.05,
                             confidence: float = 0.95) -> PairedComparison | None:
    """Paired comparison of pass/fail outcomes (aligned item by item). None without a common item.

    Interval: the Agresti–Min (2005) adjusted Wald interval of the paired difference (0.5 added to each
    cell of the 2×2 table), divided by the baseline pass rate to give the relative drop in percent.
    """
    if len(baseline) != len(current):
        raise ValueError(f"baseline and current must be aligned item by item, got {len(baseline)} and {len(current)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    n = len(baseline)
    if n == 0:
        return None
    both = sum(1 for b, c in zip(baseline, current) if b and c)
    b = sum(1 for x, y in zip(baseline, current) if x and not y)
    c = sum(1 for x, y in zip(baseline, current) if not x and y)
    base_passed, cur_passed = both + b, both + c
    p0, p1 = base_passed / n, cur_passed / n
    # From the counts, not the rounded rates: 160 → 152 passing is exactly 5%, never 5.000000000000004%.
    drop = (base_passed - cur_passed) * 100 / base_passed if base_passed else 0.0
    p_value = float(sps.binomtest(b, b + c, 0.5, alternative="greater").pvalue) if b + c else 1.0
    # Agresti–Min: add 1/2 to each cell, then Wald on the difference of the marginal proportions.
    n2, b2, c2 = n + 2.0, b + 0.5, c + 0.5
    diff = (b2 - c2) / n2
    var = ((b2 + c2) - (b2 - c2) ** 2 / n2) / n2 ** 2
    z = float(sps.norm.ppf(0.5 + confidence / 2))
    lo, hi = diff - z * math.sqrt(max(var, 0.0)), diff + z * math.sqrt(max(var, 0.0))
    scale = 100.0 / p0 if p0 > 0 else 0.0
    return PairedComparison(
        items=n, baseline_passed=base_passed, current_passed=cur_passed, regressed=b, improved=c,
        baseline_rate=p0, current_rate=p1, relative_drop_pct=drop, ci_low_pct=lo * scale, ci_high_pct=hi * scale,
        p_value=p_value, alpha=alpha,
    )


def _min_regressions(alpha: float) -> int:
    """The fewest regressions (with no improvement) the exact one-sided McNemar test calls significant."""
    return max(1, math.ceil(math.log(alpha) / math.log(0.5) - 1e-12))


def min_detectable_drop_pct(items: int, baseline_rate: float, *, alpha: float = 0.05, power: float = POWER) -> float | None:
    """The smallest relative drop (percent) this golden set detects with the given power.

    Model: each baseline-passing item regresses independently with probability δ and no item improves,
    so the regressions B ~ Binomial(items · baseline_rate, δ) and the test rejects when B >= k, k the
    fewest regressions significant at α. Improvements only make detection harder, so this is a lower
    bound on the drop a real (noisy) model change needs. None when nothing can be detected.
    """
    passed = int(round(items * baseline_rate))
    k = _min_regressions(alpha)
    if passed < k:
        return None
    lo, hi = 0.0, 1.0
    for _ in range(50):  # bisection on δ: P(B >= k) increases with δ
        mid = (lo + hi) / 2
        if sps.binom.sf(k - 1, passed, mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi * 100.0


def items_needed(baseline_rate: float, target_drop_pct: float, *, alpha: float = 0.05, power: float = POWER) -> int | None:
    """How many golden items (at this baseline pass rate) detect `target_drop_pct` with the given power."""
    if baseline_rate <= 0 or target_drop_pct <= 0:
        return None
    delta = target_drop_pct / 100.0
    k = _min_regressions(alpha)
    passed = k
    while passed < 1_000_000:
        if sps.binom.sf(k - 1, passed, delta) >= power:
            return math.ceil(passed / baseline_rate)
        passed += max(1, passed // 20)
    return None


# --- Flags -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagRateTest:
    """One-sided Fisher exact test of H1: the confirmed-bad rate now > the rate in the baseline period."""

    count_now: int
    total_now: int
    count_base: int
    total_base: int
    rate_now: float
    rate_base: float
    odds_ratio: float | None
    p_value: float
    alpha: float
    test: str = "fisher_exact_one_sided"

    @property
    def increased(self) -> bool:
        return self.p_value < self.alpha

    def as_dict(self) -> dict:
        return {**asdict(self), "increased": self.increased}


def flag_rate_test(*, count_now: int, total_now: int, count_base: int, total_base: int,
                   alpha: float = 0.05) -> FlagRateTest | None:
    """Fisher's exact test, one-sided (is the rate now higher?). None when a side has no samples."""
    for name, k, n in (("now", count_now, total_now), ("base", count_base, total_base)):
        if n < 0 or k < 0 or k > n:
            raise ValueError(f"{name}: count must be within [0, total], got {k}/{n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    if total_now == 0 or total_base == 0:
        return None
    table = [[count_now, total_now - count_now], [count_base, total_base - count_base]]
    res = sps.fisher_exact(table, alternative="greater")
    odds = float(res.statistic)
    return FlagRateTest(
        count_now, total_now, count_base, total_base, count_now / total_now, count_base / total_base,
        None if math.isnan(odds) or math.isinf(odds) else odds, float(res.pvalue), alpha,
    )


def flag_state(test: FlagRateTest | None, *, flags: int, pending: int, max_pending_share: float) -> str:
    """`degraded` when the rate is significantly up; else `pending` while too many flags await labels."""
    if test is not None and test.increased:
        return DEGRADED
    if flags and pending / flags > max_pending_share:
        return PENDING
    return MISSING if test is None else OK


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


# --- Classification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    verdict_class: str
    reasons: tuple[str, ...]


def classify(*, golden: str, flags: str, prompt_drift: bool | None, response_drift: bool | None,
             golden_missing: str = "no fresh golden-set evaluation of the serving model",
             quality: str = "missing") -> Classification:
    """The verdict class of one window from the states of its evidence sources.

    The golden set is the primary evidence: a drop beyond the tolerance that is also significant is
    genuine degradation, and so is a significant rise of the confirmed-bad rate. With the golden set
    measured (fresh, complete, powered) and not down and the flags not up, drift is a benign change
    and no drift is stable. Without usable golden evidence nothing tells benign from genuine.
    """
    reasons: list[str] = []
    if golden == DEGRADED:
        reasons.append("golden pass rate dropped beyond tolerance, significantly")
    if flags == DEGRADED:
        reasons.append("confirmed-bad rate rose significantly")
    if quality == DEGRADED:
        # A label-free quality score (e.g. a reward model's) fell significantly beyond its band.
        reasons.append("quality-score drop beyond the band, significantly")
    if reasons:
        return Classification(GENUINE_DEGRADATION, tuple(reasons))
    if golden != OK:
        return Classification(INSUFFICIENT_EVIDENCE, (golden_missing,))
    if prompt_drift or response_drift:
        which = [name for name, d in (("prompt", prompt_drift), ("response", response_drift)) if d]
        return Classification(BENIGN_CHANGE, (f"{' and '.join(which)} drift with the golden set stable",))
    return Classification(STABLE, ("golden set stable, no significant drift, flags not up",))


# --- Hysteresis --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HysteresisDecision:
    """`open` / `close`: a transition happens in this window; `breaches` / `clean` count the recent run."""

    open: bool
    close: bool
    breaches: int
    clean: int


def hysteresis(history: Sequence[bool | None], *, is_open: bool, open_after: int, close_after: int) -> HysteresisDecision:
    """Decide, at the newest window, whether an alert opens or closes.

    `history` holds one entry per window of the window grid, oldest first: True breached, False clean,
    None no evidence or no verdict (it breaks a run of breaches and of clean windows alike, so a gap
    never opens nor closes an alert). An alert opens after `open_after` consecutive breaches and closes
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
