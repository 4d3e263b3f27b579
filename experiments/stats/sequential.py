"""Always-valid inference: asymptotic confidence sequences and the p-values dual to them.

Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central limit theory and
asymptotic confidence sequences", Ann. Statist. (arXiv:2103.06476v7): the normal-mixture boundary
(eqs. 155 and 161 there), computed as gbstats ``SequentialTwoSidedTTest``. The mixing parameter ρ
comes from the tuning parameter N* (the expected total sample size): the sequence is narrowest
near N = N*. Because ρ is fixed per analysis, the interval at any level α' excludes 0 exactly
when the always-valid p-value is below α' — which is what lets Holm/BH-corrected levels reuse it.
"""

from __future__ import annotations

import math

import numpy as np

from experiments.stats.effects import EffectEstimates
from experiments.stats.frequentist import Inference
from experiments.stats.settings import Alternative, check_alpha, check_option
from experiments.stats.sufficient_statistics import FloatArray


def sequential_rho(alpha: float, tuning: float, *, one_sided: bool = False) -> float:
    """ρ = √((−2 ln α + ln(1 − 2 ln α)) / N*) (eq. 161); one-sided uses 2α, as gbstats."""
    check_alpha("alpha", alpha)
    level = 2.0 * alpha if one_sided and alpha < 0.5 else alpha
    log_level = math.log(level)
    return math.sqrt((-2.0 * log_level + math.log(1.0 - 2.0 * log_level)) / tuning)


def halfwidth_multiplier(
    n_total: FloatArray | float,
    alpha: FloatArray | float,
    rho: float,
    *,
    one_sided: bool = False,
) -> FloatArray:
    """Confidence-sequence half-width in standard errors at total sample size N.

    Two-sided: √(2(Nρ² + 1)/(Nρ²) · ln(√(Nρ² + 1)/α)); one-sided: ln(1 + √(Nρ² + 1)/(2α)).
    The fixed-horizon analogue is z_{1−α/2} ≈ 1.96; the ratio is the price of peeking.
    """
    alpha_arr = np.asarray(alpha, dtype=np.float64)
    with np.errstate(all="ignore"):
        n_rho2 = np.asarray(n_total, dtype=np.float64) * rho**2
        if one_sided:
            log_term = np.log1p(np.sqrt(n_rho2 + 1.0) / (2.0 * alpha_arr))
        else:
            log_term = 0.5 * np.log(n_rho2 + 1.0) - np.log(alpha_arr)
        return np.asarray(np.sqrt(2.0 * (n_rho2 + 1.0) / n_rho2 * log_term), dtype=np.float64)


def always_valid_p_value(
    effect: FloatArray,
    variance: FloatArray,
    n_total: FloatArray,
    rho: float,
    alternative: Alternative = "two_sided",
) -> FloatArray:
    """p = min(1, 1/E) with the mixture e-value E (eq. 155), computed in log space.

    Two-sided: ln E = ρ²·t²N/(2(Nρ² + 1)) − ½ ln(Nρ² + 1), with t² = effect²/variance.
    One-sided (dual of the one-sided sequence): p = √(Nρ² + 1) / (2(e^L − 1)) for an effect in
    the tested direction, where L is the exponent above, and 1 otherwise.
    """
    check_option("alternative", alternative, Alternative)
    with np.errstate(all="ignore"):
        n_rho2 = n_total * rho**2
        exponent = rho**2 * effect**2 * n_total / variance / (2.0 * (n_rho2 + 1.0))
        half_log = 0.5 * np.log(n_rho2 + 1.0)
        if alternative == "two_sided":
            log_p = half_log - exponent
        else:
            log_expm1 = exponent + np.log(-np.expm1(-exponent))
            log_p = half_log - math.log(2.0) - log_expm1
            wrong_way = effect <= 0 if alternative == "greater" else effect >= 0
            log_p = np.where(wrong_way, 0.0, log_p)
        p = np.exp(np.minimum(log_p, 0.0))
    finite = np.isfinite(effect) & np.isfinite(variance) & (variance > 0)
    return np.asarray(np.where(finite, p, np.nan), dtype=np.float64)


def confidence_sequence(
    estimates: EffectEstimates,
    alpha: float | FloatArray,
    *,
    rho: float,
    alternative: Alternative = "two_sided",
) -> Inference:
    """Always-valid (1 − α) interval and p-value for every comparison, at total size n_A + n_B."""
    one_sided = alternative != "two_sided"
    multiplier = halfwidth_multiplier(estimates.n_total, alpha, rho, one_sided=one_sided)
    width = multiplier * estimates.standard_error
    effect = estimates.effect
    low = effect - width if alternative != "less" else np.full_like(effect, -np.inf)
    high = effect + width if alternative != "greater" else np.full_like(effect, np.inf)
    keep = np.isfinite(width)
    p_value = always_valid_p_value(effect, estimates.variance, estimates.n_total, rho, alternative)
    return Inference(
        ci_low=np.asarray(np.where(keep, low, np.nan), dtype=np.float64),
        ci_high=np.asarray(np.where(keep, high, np.nan), dtype=np.float64),
        p_value=p_value,
    )
