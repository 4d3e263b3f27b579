"""Bayesian inference on the lift: Gaussian posterior, chance to win, expected loss (risk).

Normal–normal conjugate update of the effect (absolute or relative) as gbstats
``EffectBayesianABTest`` (Stucchio 2015, "Bayesian A/B Testing at VWO", for the loss): the
likelihood is N(effect, Var(effect)) from ``effects.py``; a flat prior leaves it unchanged.
Chance to win and risk are direction-aware: for "lower is better" metrics a decrease wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from experiments.stats.effects import EffectEstimates
from experiments.stats.settings import GaussianPrior
from experiments.stats.sufficient_statistics import BoolArray, FloatArray

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Posterior:
    """Posterior of the effect per comparison; risks are expected losses in effect units.

    ``risk`` is E[loss] if the variant is shipped (how much worse than control it is, on average
    over the posterior, counting only the outcomes where it is worse); ``risk_control`` is the
    same for keeping the control. ``chance_to_win`` is P(variant better than control).
    """

    mean: FloatArray
    standard_deviation: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    chance_to_win: FloatArray
    risk: FloatArray
    risk_control: FloatArray


def gaussian_posterior(
    effect: FloatArray, variance: FloatArray, prior: GaussianPrior
) -> tuple[FloatArray, FloatArray]:
    """Precision-weighted update: 1/v = 1/v_data + 1/v_prior, m = v(effect/v_data + μ₀/v_prior)."""
    if not prior.proper:
        return effect, variance
    with np.errstate(all="ignore"):
        precision = 1.0 / variance + 1.0 / prior.variance
        mean = (effect / variance + prior.mean / prior.variance) / precision
        return np.asarray(mean, dtype=np.float64), np.asarray(1.0 / precision, dtype=np.float64)


def expected_loss(mean: FloatArray, sd: FloatArray) -> FloatArray:
    """E[max(0, −X)] for X ~ N(mean, sd²): sd·φ(mean/sd) − mean·Φ(−mean/sd)."""
    with np.errstate(all="ignore"):
        z = mean / sd
        loss = sd * _INV_SQRT_2PI * np.exp(-0.5 * z**2) - mean * special.ndtr(-z)
    return np.asarray(np.maximum(loss, 0.0), dtype=np.float64)


def bayesian_inference(
    estimates: EffectEstimates,
    prior: GaussianPrior,
    alpha: float,
    higher_is_better: bool | BoolArray = True,
) -> Posterior:
    """Posterior, (1 − α) equal-tailed credible interval, chance to win and risks."""
    mean, variance = gaussian_posterior(estimates.effect, estimates.variance, prior)
    sd = np.sqrt(variance)
    width = -special.ndtri(alpha / 2.0) * sd
    sign = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    oriented = sign * mean  # positive = good for the variant
    with np.errstate(all="ignore"):
        chance = special.ndtr(oriented / sd)
    risk = expected_loss(oriented, sd)
    risk_control = expected_loss(-oriented, sd)
    ok = estimates.ok

    def keep(values: FloatArray) -> FloatArray:
        return np.asarray(np.where(ok, values, np.nan), dtype=np.float64)

    return Posterior(
        mean=keep(mean),
        standard_deviation=keep(sd),
        ci_low=keep(mean - width),
        ci_high=keep(mean + width),
        chance_to_win=keep(chance),
        risk=keep(risk),
        risk_control=keep(risk_control),
    )
