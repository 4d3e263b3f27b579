"""CUPED: regression adjustment of each variant's mean with a pre-period covariate.

Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online Controlled Experiments by
Utilizing Pre-Experiment Data": Ŷ_cv = Ȳ − θ(Z̄ − E Z), θ = Cov(Y, Z) / Var(Z), with θ pooled
over all variants so the adjustment cannot favour one arm. gbstats (``compute_theta``) pools
the control and one variant per comparison: identical with two arms; docs/statistics.md
("CUPED") gives the measured difference with more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.stats.messages import NEGATIVE_VARIANCE, OK
from experiments.stats.sufficient_statistics import (
    ROUNDING_TOLERANCE,
    ArmMoments,
    FloatArray,
    StatusArray,
    SufficientStatistics,
    merge_status,
    status_from_conditions,
)


@dataclass(frozen=True)
class CupedAdjustment:
    """θ per row (shape (..., 1)) and each arm's adjusted mean and per-unit variance."""

    theta: FloatArray
    adjusted_mean: FloatArray
    adjusted_variance: FloatArray
    status: StatusArray


def pooled_theta(stats: SufficientStatistics, moments: ArmMoments) -> FloatArray:
    """θ = Σ-pooled Cov(Y, Z) / Var(Z) over every usable variant of a row; 0 when undefined.

    Variants whose own status is not ok are left out so bad data cannot distort the others;
    a row where any remaining variant lacks a usable covariate (NaN sums, an inconsistent Σz²,
    a ratio metric) gets θ = 0, i.e. no adjustment. The divisor (n or n − 1) cancels in the
    ratio, so one formula serves every metric type.
    """
    sum_z_arm, sum_squares_z_arm, sum_xz_arm = stats.covariate_sums()
    usable = moments.status == OK
    covariate_usable = moments.covariate_usable
    if covariate_usable is None:
        covariate_usable = np.ones(usable.shape, dtype=bool)
    row_usable = np.all(covariate_usable | ~usable, axis=-1, keepdims=True)
    with np.errstate(all="ignore"):

        def total(values: FloatArray) -> FloatArray:
            summed: FloatArray = np.sum(np.where(usable, values, 0.0), axis=-1, keepdims=True)
            return summed

        sum_squares_x = np.where(moments.is_proportion, stats.sum, stats.sum_squares)
        n = total(stats.n)
        sum_x, sum_z = total(stats.sum), total(sum_z_arm)
        safe_n = np.where(n > 0, n, 1.0)
        m2_x = total(sum_squares_x) - sum_x**2 / safe_n
        m2_z = total(sum_squares_z_arm) - sum_z**2 / safe_n
        cross = total(sum_xz_arm) - sum_x * sum_z / safe_n
        z_scale = ROUNDING_TOLERANCE * total(sum_squares_z_arm)
        defined = (n > 1) & (m2_z > z_scale) & (m2_x > 0) & ~moments.is_ratio & row_usable
        theta = np.where(defined, cross / np.where(defined, m2_z, 1.0), 0.0)
    return np.asarray(theta, dtype=np.float64)


def cuped_adjust(stats: SufficientStatistics, moments: ArmMoments) -> CupedAdjustment:
    """Adjust each arm: mean − θ·z̄ and Var(x − θz) = σ²ₓ + θ²σ²_z − 2θσₓ_z (Deng et al. eq. 3)."""
    z_mean, z_variance, covariance = moments.covariate_moments()
    theta = pooled_theta(stats, moments)
    with np.errstate(all="ignore"):  # overflow in extreme sums surfaces as a status downstream
        adjusted_mean = moments.mean - theta * z_mean
        raw = moments.variance + theta**2 * z_variance - 2.0 * theta * covariance
        scale = moments.variance + theta**2 * z_variance
        negative = raw < -ROUNDING_TOLERANCE * np.abs(scale)
    flagged = status_from_conditions(moments.status.shape, [(negative, NEGATIVE_VARIANCE)])
    status = merge_status(moments.status, flagged)
    return CupedAdjustment(
        theta=theta,
        adjusted_mean=np.asarray(adjusted_mean, dtype=np.float64),
        adjusted_variance=np.asarray(np.maximum(raw, 0.0), dtype=np.float64),
        status=status,
    )
