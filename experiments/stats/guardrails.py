"""Guardrail metrics: a one-sided test for harm, aware of which direction is good.

A non-inferiority-style test (Kohavi, Tang & Xu 2020, ch. 7 "guardrail metrics"): with harm
h = −effect when higher is better (h = effect when lower is better), test H0: h ≤ margin against
H1: h > margin, one-sided Welch t, or the one-sided confidence sequence when sequential.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from experiments.stats.effects import EffectEstimates, estimate_effects
from experiments.stats.frequentist import t_p_value
from experiments.stats.messages import MARGIN_ERROR, NUMERICAL_ERROR, OK, StatsInputError
from experiments.stats.sequential import always_valid_p_value, halfwidth_multiplier, sequential_rho
from experiments.stats.settings import AnalysisSettings
from experiments.stats.sufficient_statistics import (
    BoolArray,
    FloatArray,
    StatusArray,
    SufficientStatistics,
)


@dataclass(frozen=True)
class GuardrailResult:
    """Per comparison: harm (positive = worse, effect units), its lower bound, p-value, flag."""

    harm: FloatArray
    harm_lower_bound: FloatArray
    p_value: FloatArray
    harmful: BoolArray
    status: StatusArray
    margin: float
    alpha: float


def guardrail_harm_test(
    estimates: EffectEstimates,
    *,
    higher_is_better: bool | npt.ArrayLike = True,
    alpha: float = 0.05,
    margin: float = 0.0,
    sequential: bool = False,
    sequential_tuning: float = 5000.0,
) -> GuardrailResult:
    """One-sided test that the variant harms the metric by more than ``margin``."""
    if not (math.isfinite(margin) and margin >= 0):
        raise StatsInputError("margin", MARGIN_ERROR)
    sign = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    harm = -sign * estimates.effect
    excess = harm - margin
    se = estimates.standard_error
    if sequential:
        rho = sequential_rho(alpha, sequential_tuning, one_sided=True)
        multiplier = halfwidth_multiplier(estimates.n_total, alpha, rho, one_sided=True)
        p_value = always_valid_p_value(
            excess, estimates.variance, estimates.n_total, rho, "greater"
        )
    else:
        with np.errstate(all="ignore"):
            multiplier = -special.stdtrit(estimates.degrees_of_freedom, alpha)
            p_value = t_p_value(excess / se, estimates.degrees_of_freedom, "greater")
    with np.errstate(all="ignore"):
        lower = harm - multiplier * se
    # An overflowed bound or p-value under an "ok" estimate is withheld, not shown as NaN.
    overflow = estimates.ok & ~(np.isfinite(lower) & np.isfinite(p_value))
    status = np.where(overflow, NUMERICAL_ERROR, estimates.status)
    ok = status == OK
    p_value = np.where(ok, p_value, np.nan)
    return GuardrailResult(
        harm=np.asarray(np.where(ok, harm, np.nan), dtype=np.float64),
        harm_lower_bound=np.asarray(np.where(ok, lower, np.nan), dtype=np.float64),
        p_value=np.asarray(p_value, dtype=np.float64),
        harmful=np.asarray(ok & (p_value < alpha)),
        status=status,
        margin=margin,
        alpha=alpha,
    )


def analyze_guardrails(
    statistics: SufficientStatistics,
    *,
    metric_type: Any,
    higher_is_better: bool | npt.ArrayLike = True,
    settings: AnalysisSettings | None = None,
    margin: float = 0.0,
) -> GuardrailResult:
    """Estimate every comparison (CUPED if given) and test each for harm beyond ``margin``."""
    settings = settings or AnalysisSettings()
    estimates = estimate_effects(statistics, metric_type, settings.difference, cuped=settings.cuped)
    direction = np.asarray(higher_is_better, dtype=bool)
    if direction.ndim:
        direction = direction[..., None]
    return guardrail_harm_test(
        estimates,
        higher_is_better=direction,
        alpha=settings.alpha,
        margin=margin,
        sequential=settings.sequential,
        sequential_tuning=settings.sequential_tuning,
    )
