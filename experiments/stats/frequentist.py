"""Fixed-horizon frequentist inference: Welch's t test and its dual confidence interval.

Welch (1947), "The generalization of 'Student's' problem when several different population
variances are involved"; relative lift and ratio metrics use the delta-method variance from
``effects.py`` on the same t distribution, as gbstats ``frequentist/tests.py``. The interval and the
p-value come from one statistic and one quantile, so the interval excludes 0 exactly when p < α.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from experiments.stats.effects import EffectEstimates
from experiments.stats.settings import Alternative, check_option
from experiments.stats.sufficient_statistics import FloatArray


@dataclass(frozen=True)
class Inference:
    """Interval and p-value per comparison; one-sided intervals have one infinite bound."""

    ci_low: FloatArray
    ci_high: FloatArray
    p_value: FloatArray


def t_p_value(
    statistic: FloatArray, df: FloatArray, alternative: Alternative = "two_sided"
) -> FloatArray:
    """p-value of a t statistic; "greater" tests effect > 0, "less" tests effect < 0."""
    check_option("alternative", alternative, Alternative)
    with np.errstate(all="ignore"):
        if alternative == "two_sided":
            p = 2.0 * special.stdtr(df, -np.abs(statistic))
        elif alternative == "greater":
            p = special.stdtr(df, -statistic)
        else:
            p = special.stdtr(df, statistic)
    return np.asarray(np.minimum(p, 1.0), dtype=np.float64)


def t_interval(
    effect: FloatArray,
    standard_error: FloatArray,
    df: FloatArray,
    alpha: float | FloatArray,
    alternative: Alternative = "two_sided",
) -> tuple[FloatArray, FloatArray]:
    """Welch interval: effect ± t_{1−α/2, df}·SE, or a one-sided bound at t_{1−α, df}."""
    check_option("alternative", alternative, Alternative)
    tail = np.asarray(alpha, dtype=np.float64) / (2.0 if alternative == "two_sided" else 1.0)
    with np.errstate(all="ignore"):
        # −t_{tail} rather than t_{1−tail}: 1 − tail rounds to 1 for a tiny α.
        width = -special.stdtrit(df, tail) * standard_error
    low = effect - width if alternative != "less" else np.full_like(effect, -np.inf)
    high = effect + width if alternative != "greater" else np.full_like(effect, np.inf)
    keep = np.isfinite(width)
    return (
        np.asarray(np.where(keep, low, np.nan), dtype=np.float64),
        np.asarray(np.where(keep, high, np.nan), dtype=np.float64),
    )


def welch_inference(
    estimates: EffectEstimates,
    alpha: float | FloatArray,
    alternative: Alternative = "two_sided",
) -> Inference:
    """Welch t test of H0: effect = 0 and its (1 − α) interval for every comparison."""
    se = estimates.standard_error
    with np.errstate(all="ignore"):
        statistic = estimates.effect / se
    p_value = t_p_value(statistic, estimates.degrees_of_freedom, alternative)
    low, high = t_interval(estimates.effect, se, estimates.degrees_of_freedom, alpha, alternative)
    return Inference(ci_low=low, ci_high=high, p_value=p_value)


def two_proportion_z_test(
    control_count: FloatArray,
    control_n: FloatArray,
    treatment_count: FloatArray,
    treatment_n: FloatArray,
    alternative: Alternative = "two_sided",
) -> tuple[FloatArray, FloatArray]:
    """Pooled two-proportion z test of treatment − control; returns (z, p).

    The textbook large-sample test (as statsmodels ``proportions_ztest``): pooled p̂ under H0,
    z = (p̂_B − p̂_A) / √(p̂(1 − p̂)(1/n_A + 1/n_B)). Offered for reference and for users who ask
    for "the z test"; the analysis itself uses Welch's t with p(1 − p) per arm, as gbstats.
    """
    check_option("alternative", alternative, Alternative)
    c_a, n_a = np.asarray(control_count, float), np.asarray(control_n, float)
    c_b, n_b = np.asarray(treatment_count, float), np.asarray(treatment_n, float)
    with np.errstate(all="ignore"):
        pooled = (c_a + c_b) / (n_a + n_b)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
        z = (c_b / n_b - c_a / n_a) / se
        if alternative == "two_sided":
            p = 2.0 * special.ndtr(-np.abs(z))
        elif alternative == "greater":
            p = special.ndtr(-z)
        else:
            p = special.ndtr(z)
    return np.asarray(z, dtype=np.float64), np.asarray(p, dtype=np.float64)
