"""Quantile metrics: the difference in a quantile (p50, p90, ...) between each variant and the
control, absolute and relative, with an interval and a p-value.

GrowthBook's method (docs.growthbook.io/statistics/quantile; gbstats ``QuantileStatistic`` and
``QuantileClusteredStatistic`` in ``models/statistics.py``), after Deng, Knoblich & Lu (2018)
and Algorithm 1 of Yao, Li & Lu (2024, arXiv:2401.14549). Per arm, from the order statistics
the database returns (``metrics.engine.quantiles``):

* the sample quantile ξ̂ at level ν and the quantiles L, U at ν ∓ z·√(ν(1 − ν)/n*), z = z₀.₉₇₅,
  n* ≤ n the grid size the band was computed for;
* Var(ξ̂) = (n*/n)·((n − 1)/n)·((U − L)/(2z))² (gbstats ``variance_init``/n: the band's width
  estimates 2z·√(ν(1 − ν)/n*)/f(ξ), so this is ν(1 − ν)/(n f(ξ)²), the CLT variance of a
  sample quantile);
* event-level values (several per unit) multiply it by Var_c(Ī)/(ν(1 − ν)/n), where Ī is the
  share of values at or below ξ̂ and Var_c its ratio-of-means (delta method) variance over units.

The arms' quantiles and variances then go through the engine as means do (``analyze_batch``):
Δ = ξ̂_B − ξ̂_A with Var_A + Var_B, relative lift by the delta method, Welch degrees of freedom,
corrections, the Bayesian posterior. CUPED does not apply. Small samples are refused with a
status (never an exception): fewer than ``MIN_QUANTILE_UNITS`` values, a band reaching past
the smallest or largest value, or a band of zero width (ties at the quantile).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from experiments.stats.analysis import BatchAnalysis, analyze_batch
from experiments.stats.messages import (
    INVALID_INPUT,
    OK,
    QUANTILE_BAND_OUTSIDE,
    QUANTILE_TIES,
    QUANTILE_TOO_FEW_UNITS,
)
from experiments.stats.settings import AnalysisSettings
from experiments.stats.sufficient_statistics import (
    STATUS_DTYPE,
    FloatArray,
    StatusArray,
    SufficientStatistics,
    status_from_conditions,
)

# z₀.₉₇₅: the band estimates the density at the quantile; its width does not follow α.
BAND_Z = 1.959963984540054
# GrowthBook floors the variance from n = 100 on and sizes its n* grid from 100: below that the
# normal approximation of an order statistic is poor (and p90's band barely fits).
MIN_QUANTILE_UNITS = 100

_CLUSTER_FIELDS = (
    "clusters",
    "below_sum",
    "below_sum_squares",
    "count_sum",
    "count_sum_squares",
    "below_count_sum_product",
)


@dataclass(frozen=True)
class QuantileArms:
    """Per-variant quantile summaries; arrays broadcast to one shape (..., V), control first.

    ``level`` is ν; ``n`` the number of values (units, or events); ``estimate`` ξ̂; ``lower``
    and ``upper`` the quantiles at ν ∓ ``band_z``·√(ν(1 − ν)/``n_star``). Event-level rows
    also give the cluster sums over units (S_i: a unit's values ≤ ξ̂, N_i: its values):
    ``clusters`` K, ΣS, ΣS², ΣN, ΣN², ΣSN; NaN ``clusters`` marks a unit-level row.
    """

    level: npt.ArrayLike
    n: npt.ArrayLike
    estimate: npt.ArrayLike
    lower: npt.ArrayLike
    upper: npt.ArrayLike
    n_star: npt.ArrayLike
    band_z: float = BAND_Z
    clusters: npt.ArrayLike = np.nan
    below_sum: npt.ArrayLike = np.nan
    below_sum_squares: npt.ArrayLike = np.nan
    count_sum: npt.ArrayLike = np.nan
    count_sum_squares: npt.ArrayLike = np.nan
    below_count_sum_product: npt.ArrayLike = np.nan

    def arrays(self) -> dict[str, FloatArray]:
        """Every field but ``band_z`` as float arrays of one broadcast shape."""
        given = {
            f.name: np.asarray(getattr(self, f.name), dtype=np.float64)
            for f in fields(self)
            if f.name != "band_z"
        }
        shape = np.broadcast_shapes(*(a.shape for a in given.values()))
        return {name: np.broadcast_to(a, shape) for name, a in given.items()}


@dataclass(frozen=True)
class QuantileMoments:
    """Per arm: the quantile, Var(ξ̂) and a status (NaN variance where it is not "ok")."""

    estimate: FloatArray
    variance: FloatArray
    n: FloatArray
    status: StatusArray


def cluster_variance(a: dict[str, FloatArray]) -> FloatArray:
    """Var_c(Ī) = [σ²_S − 2(S̄/N̄)σ_SN + (S̄/N̄)²σ²_N] / (K·N̄²), Ī = ΣS/ΣN (gbstats
    ``QuantileClusteredStatistic.get_cluster_variance``; Deng, Knoblich & Lu 2018)."""
    k = a["clusters"]
    with np.errstate(all="ignore"):
        mean_s, mean_n = a["below_sum"] / k, a["count_sum"] / k
        scale = k / (k - 1.0)
        var_s = (a["below_sum_squares"] / k - mean_s**2) * scale
        var_n = (a["count_sum_squares"] / k - mean_n**2) * scale
        cov_sn = (a["below_count_sum_product"] / k - mean_s * mean_n) * scale
        share = mean_s / mean_n
        numerator = var_s - 2.0 * share * cov_sn + share**2 * var_n
        return np.asarray(numerator / (k * mean_n**2), dtype=np.float64)


def quantile_moments(arms: QuantileArms) -> QuantileMoments:
    """Each arm's quantile and the variance of it, with the small-sample guard's status."""
    a = arms.arrays()
    level, n, n_star = a["level"], a["n"], a["n_star"]
    lower, upper, z = a["lower"], a["upper"], arms.band_z
    event_level = np.isfinite(a["clusters"])
    with np.errstate(all="ignore"):
        half = z * np.sqrt(level * (1.0 - level) / n_star)
        outside = ~(n_star >= 1) | (level - half < 0.0) | (level + half > 1.0)
        width = upper - lower
        variance = (n_star / n) * ((n - 1.0) / n) * (width / (2.0 * z)) ** 2
        inflation = cluster_variance(a) / (level * (1.0 - level) / n)
        variance = np.where(event_level, variance * inflation, variance)
    invalid = (
        ~np.isfinite(n)
        | (n < 0)
        | ~((level > 0) & (level < 1))
        | ((n > 0) & ~np.isfinite(a["estimate"]))
    )
    band_missing = ~(np.isfinite(lower) & np.isfinite(upper)) | (width < 0)
    clusters_bad = event_level & ~((a["clusters"] >= 2) & np.isfinite(variance) & (variance >= 0))
    status = status_from_conditions(
        n.shape,
        [
            (invalid, INVALID_INPUT),
            (n < MIN_QUANTILE_UNITS, QUANTILE_TOO_FEW_UNITS),
            (outside | band_missing, QUANTILE_BAND_OUTSIDE),
            (width == 0, QUANTILE_TIES),
            (clusters_bad, QUANTILE_TOO_FEW_UNITS),
        ],
    )
    ok = status == OK
    return QuantileMoments(
        estimate=np.asarray(np.where(n > 0, a["estimate"], np.nan), dtype=np.float64),
        variance=np.asarray(np.where(ok, variance, np.nan), dtype=np.float64),
        n=np.asarray(n, dtype=np.float64),
        status=np.asarray(status, dtype=STATUS_DTYPE),
    )


def quantile_sufficient_statistics(
    arms: QuantileArms,
) -> tuple[SufficientStatistics, StatusArray]:
    """The arms as the engine's mean statistics, and each arm's guard status.

    An arm with quantile ξ̂ and Var(ξ̂) = V over n values is the mean of n values with sample
    variance n·V: Σx = n·ξ̂, Σx² = n·ξ̂² + (n − 1)·n·V, so that x̄ = ξ̂ and s²/n = V. An arm the
    guard refuses gets n = 0 (the engine then withholds every number of its comparisons;
    ``apply_arm_status`` puts the guard's status back).
    """
    moments = quantile_moments(arms)
    ok = moments.status == OK
    n = np.where(ok, moments.n, 0.0)
    estimate = np.where(ok, moments.estimate, 0.0)
    variance = np.where(ok, moments.variance, 0.0)
    statistics = SufficientStatistics(
        n=n,
        sum=n * estimate,
        sum_squares=n * estimate**2 + np.maximum(n - 1.0, 0.0) * n * variance,
    )
    return statistics, moments.status


def comparison_status(arm_status: StatusArray) -> StatusArray:
    """Per comparison (..., V − 1): the control's guard status, else the variant's, else ok."""
    control, variant = arm_status[..., :1], arm_status[..., 1:]
    shape = np.broadcast_shapes(control.shape, variant.shape)
    return np.asarray(
        np.where(control != OK, np.broadcast_to(control, shape), variant), dtype=STATUS_DTYPE
    )


_NUMBERS = (
    "effect",
    "standard_error",
    "ci_low",
    "ci_high",
    "p_value",
    "p_value_unadjusted",
    "chance_to_win",
    "risk",
    "risk_control",
    "degrees_of_freedom",
    "control_mean",
    "variant_mean",
    "variance_reduction",
)


def apply_arm_status(batch: BatchAnalysis, arm_status: StatusArray) -> BatchAnalysis:
    """Give comparisons whose control or variant the guard refused the guard's status, their
    numbers withheld (NaN); the other comparisons stay as the engine left them."""
    guarded = comparison_status(arm_status)
    hit = guarded != OK
    if not hit.any():
        return batch
    changes: dict[str, Any] = {"status": np.where(hit, guarded, batch.status)}
    for name in _NUMBERS:
        value = getattr(batch, name)
        if value is not None:
            changes[name] = np.where(hit, np.nan, value)
    return replace(batch, **changes)


def analyze_quantiles(
    arms: QuantileArms,
    *,
    settings: AnalysisSettings | None = None,
    higher_is_better: bool | npt.ArrayLike = True,
) -> BatchAnalysis:
    """Compare every variant's quantile with the control's, for every row at once.

    Each comparison of the result has the engine's statuses plus the quantile guard's
    (``quantile_too_few_units``, ``quantile_band_outside``, ``quantile_ties``); corrections
    treat the comparisons of the call as one family (refused ones are not counted).
    """
    settings = replace(settings or AnalysisSettings(), cuped=False)
    statistics, arm_status = quantile_sufficient_statistics(arms)
    batch = analyze_batch(
        statistics, metric_type="mean", settings=settings, higher_is_better=higher_is_better
    )
    return apply_arm_status(batch, arm_status)
