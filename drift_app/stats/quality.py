"""Label-free quality signals per window: pure maths on arrays (numpy, scipy; no Django).

For one signal (a reward-model score, a user rating, prompt-response relevance, response length) and
two samples of it — the baseline period's values and a window's values — :func:`score_shift` gives the
relative change of the mean with a 95% bootstrap confidence interval (scipy.stats.bootstrap, BCa), and
a two-sample Mann-Whitney U test of the two distributions (rank-based: robust to the ties of thumbs
and 1-5 ratings and to the skew of reward scores). The band is the deployment's ``quality_drift_pct``
(the seed's 15-20% "drop in perceived quality/alignment"). Higher is taken to be better for quality
scores: a *drop* beyond the band that the test finds significant is degradation evidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

DEFAULT_BAND_PCT = 15.0
ALPHA = 0.05
MIN_SAMPLES = 20
BOOTSTRAP_RESAMPLES = 2000
# Above this a window is subsampled for the bootstrap only (the means and the test use every value).
BOOTSTRAP_MAX_N = 5000


@dataclass(frozen=True)
class ScoreShift:
    name: str
    baseline_n: int
    window_n: int
    baseline_mean: float | None
    window_mean: float | None
    relative_change_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    p_value: float | None
    test: str
    band_pct: float
    beyond_band: bool
    significant: bool
    degraded: bool
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _relative_change(window: np.ndarray, baseline: np.ndarray, axis: int = -1) -> np.ndarray:
    b = np.mean(baseline, axis=axis)
    return (np.mean(window, axis=axis) - b) / np.abs(b) * 100.0


def score_shift(
    name: str, baseline: np.ndarray, window: np.ndarray, *, band_pct: float = DEFAULT_BAND_PCT,
    alpha: float = ALPHA, higher_is_better: bool = True, seed: int = 0,
) -> ScoreShift:
    """Relative change of the window's mean against the baseline's, its 95% CI, and a two-sample test."""
    baseline = np.asarray(baseline, dtype=np.float64)
    window = np.asarray(window, dtype=np.float64)
    baseline, window = baseline[np.isfinite(baseline)], window[np.isfinite(window)]
    nb, nw = len(baseline), len(window)
    empty = ScoreShift(name, nb, nw, float(baseline.mean()) if nb else None, float(window.mean()) if nw else None,
                       None, None, None, None, "mann-whitney-u", band_pct, False, False, False)
    if nb < MIN_SAMPLES or nw < MIN_SAMPLES:
        return ScoreShift(**{**asdict(empty), "note": f"needs at least {MIN_SAMPLES} values in the baseline and "
                                                      f"the window (has {nb} and {nw})"})
    b_mean, w_mean = float(baseline.mean()), float(window.mean())
    p_value = float(stats.mannwhitneyu(window, baseline, alternative="two-sided").pvalue)
    if np.ptp(np.concatenate([baseline, window])) == 0:
        p_value = 1.0
    if abs(b_mean) < 1e-12:
        return ScoreShift(**{**asdict(empty), "p_value": round(p_value, 6), "significant": p_value < alpha,
                             "note": "the baseline mean is 0: a relative change is undefined"})
    rel = float(_relative_change(window, baseline))
    rng = np.random.default_rng(seed)
    bw = window if nw <= BOOTSTRAP_MAX_N else rng.choice(window, BOOTSTRAP_MAX_N, replace=False)
    bb = baseline if nb <= BOOTSTRAP_MAX_N else rng.choice(baseline, BOOTSTRAP_MAX_N, replace=False)
    if np.ptp(bw) == 0 and np.ptp(bb) == 0:
        low = high = rel
    else:
        ci = stats.bootstrap((bw, bb), _relative_change, n_resamples=BOOTSTRAP_RESAMPLES, vectorized=True,
                             paired=False, confidence_level=0.95, method="percentile", rng=rng).confidence_interval
        low, high = float(ci.low), float(ci.high)
    significant = p_value < alpha
    beyond = abs(rel) >= band_pct
    worse = rel < 0 if higher_is_better else rel > 0
    return ScoreShift(name, nb, nw, round(b_mean, 6), round(w_mean, 6), round(rel, 3), round(low, 3), round(high, 3),
                      round(p_value, 6), "mann-whitney-u", band_pct, beyond, significant,
                      bool(beyond and significant and worse))
