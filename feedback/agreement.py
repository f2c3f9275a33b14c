"""Agreement and proportion statistics for human feedback. PURE: numpy only, never Django.

- `cohen_kappa(a, b)`: chance-corrected agreement of two raters on the same items (Cohen 1960).
- `krippendorff_alpha_nominal(data)`: agreement of any number of coders with missing values,
  nominal metric (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011).
- `wilson_interval(k, n)`: score interval for a binomial proportion (Wilson 1927); well behaved
  for the small counts and rates near zero that flag metrics have, where the normal interval is not.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np


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
    table = np.zeros((len(categories), len(categories)), dtype=np.float64)
    np.add.at(table, (np.fromiter((index[x] for x in a), int, n), np.fromiter((index[y] for y in b), int, n)), 1)
    table /= n
    p_o = float(np.trace(table))
    p_e = float(table.sum(axis=1) @ table.sum(axis=0))
    kappa = math.nan if math.isclose(p_e, 1.0) else (p_o - p_e) / (1.0 - p_e)
    return Kappa(kappa, p_o, p_e, n)


def krippendorff_alpha_nominal(data: Sequence[Sequence[Hashable | None]]) -> Alpha:
    """Krippendorff's alpha, nominal metric, for a coders x units table; None (or nan) marks a missing value.

    Built from the coincidence matrix: each unit u with m_u >= 2 values contributes every ordered pair
    of its values (from different coders) with weight 1 / (m_u - 1). Then
    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c * n_k.
    """
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
    o = np.zeros((len(categories), len(categories)), dtype=np.float64)
    n_units = 0
    for u in range(width):
        values = [index[r[u]] for r in rows if present(r[u])]
        m = len(values)
        if m < 2:
            continue
        n_units += 1
        counts = np.bincount(values, minlength=len(categories)).astype(np.float64)
        # Ordered pairs of values from different coders: n_c * n_k off the diagonal, n_c * (n_c - 1) on it.
        o += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    if n < 2:
        return Alpha(math.nan, n_units, int(round(n)))
    observed_disagreement = float(o.sum() - np.trace(o))
    expected_disagreement = float(n * n - (n_c**2).sum())
    if expected_disagreement == 0:
        # Every value is the same category: no variation, reliability undefined.
        return Alpha(math.nan, n_units, int(round(n)))
    alpha = 1.0 - (n - 1.0) * observed_disagreement / expected_disagreement
    return Alpha(alpha, n_units, int(round(n)))


def wilson_interval(count: int, total: int, *, z: float = 1.959963984540054) -> Proportion:
    """Wilson score interval for count successes in total trials (default 95%)."""
    if count < 0 or total < 0 or count > total:
        raise ValueError(f"need 0 <= count <= total, got count={count}, total={total}")
    if total == 0:
        return Proportion(0, 0, None, 0.0, 1.0)
    p = count / total
    z2 = z * z
    denom = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    # Clamp rounding noise: at count == 0 the lower bound is exactly 0, at count == total the upper is 1.
    low = 0.0 if count == 0 else max(0.0, centre - half)
    high = 1.0 if count == total else min(1.0, centre + half)
    return Proportion(count, total, p, low, high)
