"""A funnel's steps compared between two variants: the difference in each step's conversion
with its interval and p-value.

Per variant the database returns the matured units N and the units reaching each step in order,
c₁ ≥ c₂ ≥ … ≥ c_K (a unit reaching step k reached every step before it). Two conversions per
step k, each compared as variant − control (in proportion points):

* **from the step before**, q_k = c_k / c_(k−1) (step 1: c₁ / N). This is a ratio metric, the
  mean of X_k over the mean of X_(k−1) on the units' 0/1 indicators. Its delta-method variance,
  (Var X_k − 2q·Cov(X_k, X_(k−1)) + q²·Var X_(k−1)) / (N·p_(k−1)²), simplifies, because
  X_k ≤ X_(k−1) gives Cov = p_k(1 − p_(k−1)), to exactly q(1 − q) / c_(k−1): the binomial
  variance with the step before's units as the denominator (not N).
* **from every matured unit**, p_k = c_k / N: a proportion, variance p(1 − p) / N.

The arms are independent, so Var(Δ) is the sum of theirs. The interval is Wald's,
Δ ± z_(1−α/2)·SE, and the p-value 2Φ(−|Δ|/SE) from the same statistic (statsmodels'
``confint_proportions_2indep`` / ``test_proportions_2indep`` with ``method="wald"``,
``compare="diff"``): the interval excludes 0 exactly when p < α.

These are the steps *behind* the whole funnel's comparison (the metric's own, with its engine,
correction and sequential settings): fixed-horizon, two-sided, and not corrected for the
number of steps or variants. No number is given (NaN) when an arm has no unit at a step's
denominator, or when both arms' conversions are 0 or 1 (no variance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from experiments.stats.sufficient_statistics import FloatArray


@dataclass(frozen=True)
class ProportionChanges:
    """variant − control for each pair of proportions; NaN where there is none."""

    difference: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray
    standard_error: FloatArray


def proportion_changes(
    control_count: Sequence[float] | FloatArray,
    control_total: Sequence[float] | FloatArray,
    variant_count: Sequence[float] | FloatArray,
    variant_total: Sequence[float] | FloatArray,
    alpha: float = 0.05,
) -> ProportionChanges:
    """Wald difference of independent proportions, elementwise over broadcastable arrays."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    xc, nc, xv, nv = (
        np.asarray(a, dtype=np.float64)
        for a in (control_count, control_total, variant_count, variant_total)
    )
    with np.errstate(all="ignore"):
        pc, pv = xc / nc, xv / nv
        difference = pv - pc
        se = np.sqrt(pc * (1 - pc) / nc + pv * (1 - pv) / nv)
        usable = (nc > 0) & (nv > 0) & (se > 0) & np.isfinite(se)
        # −Φ⁻¹(α/2) rather than Φ⁻¹(1 − α/2): exact for a tiny α too.
        width = -special.ndtri(alpha / 2) * se
        p_value = np.minimum(2 * special.ndtr(-np.abs(difference) / se), 1.0)

    def kept(values: FloatArray) -> FloatArray:
        return np.where(usable, values, np.nan)

    return ProportionChanges(
        difference=kept(difference),
        ci_low=kept(difference - width),
        ci_high=kept(difference + width),
        p_value=kept(p_value),
        standard_error=kept(se),
    )


@dataclass(frozen=True)
class StepChanges:
    """Per step (arrays of length K): the change in conversion from the step before and from
    every matured unit."""

    conversion: ProportionChanges
    overall: ProportionChanges


def funnel_step_changes(
    *,
    control_units: int | FloatArray,
    control_steps: Sequence[int] | FloatArray,
    variant_units: int | FloatArray,
    variant_steps: Sequence[int] | FloatArray,
    alpha: float = 0.05,
) -> StepChanges:
    """Every step of a funnel, variant against control (see the module's docstring).

    Steps are the last axis (units reaching step 1 … K); leading axes, if any, are separate
    comparisons (units then have those leading axes' shape)."""
    c = np.asarray(control_steps, dtype=np.float64)
    v = np.asarray(variant_steps, dtype=np.float64)
    if c.shape != v.shape or c.ndim == 0 or c.shape[-1] == 0:
        raise ValueError("both variants need the same, non-empty steps")
    nc = np.asarray(control_units, dtype=np.float64)[..., None]
    nv = np.asarray(variant_units, dtype=np.float64)[..., None]
    c_before = np.concatenate((np.broadcast_to(nc, c[..., :1].shape), c[..., :-1]), axis=-1)
    v_before = np.concatenate((np.broadcast_to(nv, v[..., :1].shape), v[..., :-1]), axis=-1)
    return StepChanges(
        conversion=proportion_changes(c, c_before, v, v_before, alpha),
        overall=proportion_changes(c, nc, v, nv, alpha),
    )
