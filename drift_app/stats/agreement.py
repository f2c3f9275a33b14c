"""Agreement and proportion statistics for human feedback. PURE: never Django.

Computed by well-kept libraries, wrapped so callers get one small result type with the counts a
report needs:
- `cohen_kappa(a, b)`: chance-corrected agreement of two raters (scikit-learn's `cohen_kappa_score`).
- `krippendorff_alpha_nominal(data)`: any number of coders with missing values, nominal metric
  (the `krippendorff` package, Krippendorff 2011).
- `wilson_interval(k, n)`: Wilson score interval for a binomial proportion (statsmodels'
  `proportion_confint(method="wilson")`); well behaved for the small counts and rates near zero
  that flag metrics have, where the normal interval is not.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np
from scipy.stats import norm
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.proportion import proportion_confint


@dataclass(frozen=True)
class Kappa:
    kappa: float  # nan when undefined (both raters used one and the same category throughout)
    observed: float  # p_o, share of items both raters labelled alike
    expected: float  # p_e, agreement expected by chance from each rater's marginals
    n_items: int


@dataclass(frozen=True)
class Alpha:
    alpha: float  # nan when undefined (fewer than two pairable values, or no variation at all)
    n_units: int  # units with at least two values (the only ones that carry information)
    n_values: int  # pairable values, n.. in Krippendorff's notation


@dataclass(frozen=True)
class Proportion:
    count: int
    total: int
    rate: float | None  # None when total is 0
    low: float
    high: float


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> Kappa:
    """Cohen's kappa for two raters; `a[i]` and `b[i]` label the same item i."""
    if len(a) != len(b):
        raise ValueError(f"both raters must label the same items: got {len(a)} and {len(b)} labels")
    n = len(a)
    if n == 0:
        return Kappa(math.nan, math.nan, math.nan, 0)
    categories = sorted(set(a) | set(b), key=repr)
    index = {c: i for i, c in enumerate(categories)}
    ia = [index[x] for x in a]
    ib = [index[y] for y in b]
    with warnings.catch_warnings():
        # One label throughout is a legitimate input here (kappa is then undefined, reported as nan).
        warnings.simplefilter("ignore", UserWarning)
        table = confusion_matrix(ia, ib, labels=list(range(len(categories)))).astype(np.float64) / n
    p_o = float(np.trace(table))
    p_e = float(table.sum(axis=1) @ table.sum(axis=0))
    # Undefined when both raters used one and the same category throughout (p_e = 1).
    kappa = math.nan if math.isclose(p_e, 1.0) else float(cohen_kappa_score(ia, ib, labels=list(range(len(categories)))))
    return Kappa(kappa, p_o, p_e, n)


def krippendorff_alpha_nominal(data: Sequence[Sequence[Hashable | None]]) -> Alpha:
    """Krippendorff's alpha, nominal metric, for a coders x units table; None (or nan) marks a missing value."""
    rows = [list(r) for r in data]
    if not rows:
        return Alpha(math.nan, 0, 0)
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError("every coder's row must have one entry per unit")

    def present(v) -> bool:
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    categories = sorted({v for r in rows for v in r if present(v)}, key=repr)
    index = {c: i for i, c in enumerate(categories)}
    matrix = np.array(
        [[float(index[v]) if present(v) else np.nan for v in r] for r in rows], dtype=np.float64
    ).reshape(len(rows), width)
    per_unit = np.count_nonzero(~np.isnan(matrix), axis=0)
    pairable = per_unit >= 2
    n_units = int(np.count_nonzero(pairable))
    n_values = int(per_unit[pairable].sum())
    if n_values < 2 or len(set(matrix[:, pairable][~np.isnan(matrix[:, pairable])].tolist())) < 2:
        # Fewer than two pairable values, or every value the same category: reliability undefined.
        return Alpha(math.nan, n_units, n_values)
    alpha = float(krippendorff.alpha(reliability_data=matrix[:, pairable], level_of_measurement="nominal"))
    return Alpha(alpha, n_units, n_values)


def wilson_interval(count: int, total: int, *, z: float = 1.959963984540054) -> Proportion:
    """Wilson score interval for count successes in total trials (default 95%)."""
    if count < 0 or total < 0 or count > total:
        raise ValueError(f"need 0 <= count <= total, got count={count}, total={total}")
    if total == 0:
        return Proportion(0, 0, None, 0.0, 1.0)
    low, high = proportion_confint(count, total, alpha=2 * float(norm.sf(z)), method="wilson")
    # Clamp rounding noise: at count == 0 the lower bound is exactly 0, at count == total the upper is 1.
    low = 0.0 if count == 0 else max(0.0, float(low))
    high = 1.0 if count == total else min(1.0, float(high))
    return Proportion(count, total, count / total, low, high)
