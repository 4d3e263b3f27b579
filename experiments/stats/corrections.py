"""Multiple-comparison corrections across every comparison of an analysis.

Holm (1979), "A simple sequentially rejective multiple test procedure" (family-wise error) and
Benjamini & Hochberg (1995), "Controlling the false discovery rate" (FDR); adjusted p-values as
statsmodels ``multipletests`` ("holm", "fdr_bh"). Intervals: see :func:`corrected_alpha`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from experiments.stats.settings import Correction, check_option
from experiments.stats.sufficient_statistics import FloatArray


def holm_adjust(p_values: npt.ArrayLike) -> FloatArray:
    """Holm step-down: p̃₍ᵢ₎ = max_{j≤i} min(1, (m − j + 1)·p₍ⱼ₎) over sorted p-values."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def benjamini_hochberg_adjust(p_values: npt.ArrayLike) -> FloatArray:
    """BH step-up: p̃₍ᵢ₎ = min_{j≥i} min(1, m·p₍ⱼ₎ / j) over sorted p-values."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def adjust_p_values(p_values: npt.ArrayLike, method: Correction) -> FloatArray:
    """Adjust every finite p-value of the array as one family; NaN entries stay NaN.

    The family is everything passed in (all metrics × variants × segments of one call);
    comparisons without a p-value (a non-ok status) are not counted in m.
    """
    check_option("correction", method, Correction)
    p = np.asarray(p_values, dtype=np.float64)
    if method == "none":
        return p.copy()
    finite = np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    if finite.any():
        adjust = holm_adjust if method == "holm" else benjamini_hochberg_adjust
        adjusted[finite] = adjust(p[finite])
    return adjusted


def corrected_alpha(p_values: npt.ArrayLike, adjusted: npt.ArrayLike, alpha: float) -> FloatArray:
    """Per-comparison level α' = α·p / p̃ for the interval that agrees with the adjusted p.

    The interval at level 1 − α' excludes 0 exactly when p̃ < α (for any test whose interval
    is dual to its p-value), so intervals and adjusted p-values never disagree. Since
    p ≤ p̃ ≤ m·p, α/m ≤ α' ≤ α: never wider than Bonferroni, never narrower than unadjusted.
    These are not simultaneous intervals (see docs/statistics.md); for BH they play the role of
    Benjamini–Yekutieli (2005) FCR-style intervals. Where p̃ = 0, α' = α/m.
    """
    p = np.asarray(p_values, dtype=np.float64)
    p_adj = np.asarray(adjusted, dtype=np.float64)
    m = max(int(np.isfinite(p).sum()), 1)
    with np.errstate(all="ignore"):
        level = np.where(p_adj > 0, alpha * p / p_adj, alpha / m)
    level = np.clip(level, alpha / m, alpha)
    return np.asarray(np.where(np.isfinite(p), level, alpha), dtype=np.float64)
