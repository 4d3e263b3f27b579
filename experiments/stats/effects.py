"""Effect estimates of every variant against the control: absolute or relative lift and variance.

Absolute lift: Δ = Ŷ_B − Ŷ_A, Var = σ²_B/n_B + σ²_A/n_A (Welch 1947). Relative lift by the delta
method as gbstats: R = Δ / Ȳ_A, Var = σ²_B/(n_B Ȳ_A²) + σ²_A Ȳ_B²/(n_A Ȳ_A⁴); with CUPED the
control term becomes Var((Ȳ_B/Ȳ_A)·Y_A − θZ_A)/(n_A Ȳ_A²). Welch–Satterthwaite degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.stats.cuped import cuped_adjust
from experiments.stats.messages import (
    INSUFFICIENT_DATA,
    INVALID_INPUT,
    NEGATIVE_VARIANCE,
    NUMERICAL_ERROR,
    OK,
    TOO_FEW_VARIANTS_ERROR,
    ZERO_CONTROL_MEAN,
    ZERO_DENOMINATOR,
    ZERO_VARIANCE,
    StatsInputError,
)
from experiments.stats.settings import Difference, check_option
from experiments.stats.sufficient_statistics import (
    FloatArray,
    StatusArray,
    SufficientStatistics,
    arm_moments,
    merge_status,
    status_from_conditions,
)

# Statuses under which the point estimate itself is meaningless and withheld.
_NO_ESTIMATE = (
    INVALID_INPUT,
    INSUFFICIENT_DATA,
    NEGATIVE_VARIANCE,
    ZERO_DENOMINATOR,
    ZERO_CONTROL_MEAN,
    NUMERICAL_ERROR,
)


@dataclass(frozen=True)
class EffectEstimates:
    """One entry per (row, treatment variant): arrays of shape (..., V − 1).

    ``variance`` is Var(effect) (with CUPED if used); ``unadjusted_variance`` is the same
    without CUPED, so ``variance_reduction`` = 1 − variance / unadjusted_variance.
    Fields other than ``effect`` are NaN exactly where ``status`` is not "ok"; ``effect`` is
    also kept for "zero_variance" (a difference between constants is still a difference).
    """

    effect: FloatArray
    variance: FloatArray
    unadjusted_variance: FloatArray
    degrees_of_freedom: FloatArray
    n_total: FloatArray
    control_mean: FloatArray
    variant_mean: FloatArray
    theta: FloatArray
    variance_reduction: FloatArray
    status: StatusArray
    difference: Difference

    @property
    def standard_error(self) -> FloatArray:
        return np.asarray(np.sqrt(self.variance), dtype=np.float64)

    @property
    def ok(self) -> np.ndarray:
        return np.asarray(self.status == OK)


def welch_degrees_of_freedom(
    var_a: FloatArray, n_a: FloatArray, var_b: FloatArray, n_b: FloatArray
) -> FloatArray:
    """Welch–Satterthwaite: (s²_A/n_A + s²_B/n_B)² / Σ (s²/n)²/(n − 1) (Welch 1947)."""
    with np.errstate(all="ignore"):
        se2_a, se2_b = var_a / n_a, var_b / n_b
        denominator = se2_a**2 / (n_a - 1.0) + se2_b**2 / (n_b - 1.0)
        return np.asarray((se2_a + se2_b) ** 2 / denominator, dtype=np.float64)


def estimate_effects(
    stats: SufficientStatistics,
    metric_type: Any,
    difference: Difference = "relative",
    *,
    cuped: bool = True,
) -> EffectEstimates:
    """Estimate each variant's lift over variant 0, vectorised over all leading axes."""
    check_option("difference", difference, Difference)
    if stats.shape[-1] < 2:
        raise StatsInputError("variants", TOO_FEW_VARIANTS_ERROR)
    moments = arm_moments(stats, metric_type)
    use_cuped = cuped and stats.has_covariate
    if use_cuped:
        adjustment = cuped_adjust(stats, moments)
        theta = adjustment.theta
        adjusted_mean, adjusted_var = adjustment.adjusted_mean, adjustment.adjusted_variance
        arm_status = adjustment.status
    else:
        theta = np.zeros(stats.shape[:-1] + (1,))
        adjusted_mean, adjusted_var, arm_status = moments.mean, moments.variance, moments.status

    n_a, n_b = moments.n[..., :1], moments.n[..., 1:]
    mean_a, mean_b = moments.mean[..., :1], moments.mean[..., 1:]
    raw_var_a, raw_var_b = moments.variance[..., :1], moments.variance[..., 1:]
    var_a, var_b = adjusted_var[..., :1], adjusted_var[..., 1:]
    with np.errstate(all="ignore"):
        delta = adjusted_mean[..., 1:] - adjusted_mean[..., :1]
        if difference == "absolute":
            effect = delta
            variance = var_b / n_b + var_a / n_a
            unadjusted = raw_var_b / n_b + raw_var_a / n_a
        else:
            effect = delta / mean_a
            # Gradient taken at the unadjusted means (Ȳ_B/Ȳ_A), as gbstats; asymptotically the
            # same as 1 + R because randomisation balances the pre-period means.
            growth = mean_b / mean_a
            control_term = growth**2 * raw_var_a
            if use_cuped:
                _, z_variance, covariance = moments.covariate_moments()
                control_term = (
                    control_term
                    + theta**2 * z_variance[..., :1]
                    - 2.0 * growth * theta * covariance[..., :1]
                )
            scale = mean_a**2
            variance = var_b / (n_b * scale) + np.maximum(control_term, 0.0) / (n_a * scale)
            unadjusted = raw_var_b / (n_b * scale) + growth**2 * raw_var_a / (n_a * scale)
        df = welch_degrees_of_freedom(var_a, n_a, var_b, n_b)
        n_total = n_a + n_b
        reduction = np.where(unadjusted > 0, 1.0 - variance / unadjusted, 0.0)

    shape = effect.shape
    not_finite = ~(np.isfinite(effect) & np.isfinite(variance) & np.isfinite(df))
    status = merge_status(
        arm_status[..., :1],
        arm_status[..., 1:],
        status_from_conditions(
            shape,
            [
                ((difference == "relative") & (mean_a == 0), ZERO_CONTROL_MEAN),
                (~(variance > 0), ZERO_VARIANCE),
                (not_finite, NUMERICAL_ERROR),
            ],
        ),
    )
    ok = status == OK
    withheld = np.isin(status, _NO_ESTIMATE)
    defined_means = ~np.isin(status, (INVALID_INPUT, ZERO_DENOMINATOR))

    def keep(values: FloatArray, mask: np.ndarray) -> FloatArray:
        return np.asarray(np.where(mask, np.broadcast_to(values, shape), np.nan), dtype=np.float64)

    return EffectEstimates(
        effect=keep(effect, ~withheld),
        variance=keep(variance, ok),
        unadjusted_variance=keep(unadjusted, ok),
        degrees_of_freedom=keep(df, ok),
        n_total=np.asarray(np.broadcast_to(n_total, shape), dtype=np.float64),
        control_mean=keep(mean_a, defined_means & (n_a > 0)),
        variant_mean=keep(mean_b, defined_means & (n_b > 0)),
        theta=np.asarray(np.broadcast_to(theta, shape), dtype=np.float64),
        variance_reduction=keep(reduction, ok),
        status=status,
        difference=difference,
    )
