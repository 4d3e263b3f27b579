"""The forecast interval's calibration by the series' own past forecast errors, as plain math.

No Django here. The fitted model's interval takes its variances as known and its form as right;
on key-result series neither holds (``docs/statistics.md``, "Key result forecast"): a few weeks
pin the level's variance down badly (its estimate is often near zero, so the interval barely
widens with the horizon), weekly values of a metric over 28-day cohorts share most of their
units (the noise is autocorrelated), and a series can drift for months. So the interval is
calibrated by what the same procedure would have got wrong on this series so far, the empirical
prediction intervals of Williams & Goodman (1971) and Lee & Scholtes (2014, *Int. J.
Forecasting* 30(2)), with a prior on the model's own variance:

* **Past errors.** For every past origin k (a prefix with at least ``min_points`` values) the
  model is refitted on the prefix, and each later observed week up to ``max_horizon`` ahead is
  forecast; the error is standardised by that forecast's own sd: u = (actual − mean) / sd.
  The refits choose the local level or the damped trend by AICc as the forecast does, with the
  variances fitted by maximum likelihood over a grid of signal-to-noise ratios (σ²_η/σ²_ε in
  steps of ½ on log scale, σ²_ζ/σ²_ε in steps of 1; σ²_ε profiled out), all prefixes from one
  vectorised filter pass.
* **Factor.** At horizon h, with m standardised errors, the squared factor is the posterior
  mean of a variance with a scaled-inverse-χ² prior worth ``PRIOR_ERRORS`` errors at 1 (the
  model's own variance): c² = (ν₀ + m_eff · mean u²) / (ν₀ + m_eff), with m_eff = m / √h
  (errors h weeks ahead from consecutive origins share up to h − 1 weeks, so they count for
  less than m independent ones; √h lies between independent errors and the h of a pure random
  walk's shared steps, and calibrates better in the simulation). The interval is
  mean ± t_{ν₀+m_eff} · c · sd (Student's t: the variance is estimated). Horizons with fewer
  than ``MIN_ERRORS`` errors take the factor and t of the longest one with enough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

# The model's own variance counts as this many past errors (ν₀): few errors barely move the
# interval, many take it over. Chosen by the simulation in
# tests/outcomes/okrs/test_forecasting_calibration.py (5 and 10 both keep every horizon near
# 80%; below 5 the interval over-covers noise, above 10 it under-covers drifts).
PRIOR_ERRORS = 5.0
# A horizon is calibrated by its own errors from this many on.
MIN_ERRORS = 3
# The grid of log variance ratios the refits choose from (on σ²_ε = 1).
LOG_LEVEL_RATIOS = tuple(-9.0 + 0.5 * i for i in range(29))  # e⁻⁹ … e⁵
LOG_SLOPE_RATIOS = tuple(-9.0 + 1.0 * i for i in range(11))  # e⁻⁹ … e¹


@dataclass(frozen=True)
class Widening:
    """How the model's interval at one horizon is widened (or narrowed): the interval is
    mean ± ``quantile`` · sd · ``factor``; ``errors`` past errors stood behind it."""

    factor: float
    quantile: float
    errors: int


@dataclass(frozen=True)
class _Grid:
    level_ratio: np.ndarray
    slope_ratio: np.ndarray
    damping: np.ndarray
    slope_start: np.ndarray
    is_trend: np.ndarray


def _grid(damping: float, diffuse_variance: float) -> _Grid:
    level = [(math.exp(q), 0.0, False) for q in LOG_LEVEL_RATIOS]
    trend = [
        (math.exp(q), math.exp(z), True) for q in LOG_LEVEL_RATIOS[::2] for z in LOG_SLOPE_RATIOS
    ]
    specs = level + trend
    is_trend = np.array([s[2] for s in specs])
    return _Grid(
        level_ratio=np.array([s[0] for s in specs]),
        slope_ratio=np.array([s[1] for s in specs]),
        damping=np.where(is_trend, damping, 0.0),
        slope_start=np.where(is_trend, diffuse_variance, 0.0),
        is_trend=is_trend,
    )


def _aicc(loglikelihood: float, parameters: int, observations: int) -> float:
    if observations - parameters - 1 <= 0:
        return math.inf
    k = parameters
    return -2 * loglikelihood + 2 * k + 2 * k * (k + 1) / (observations - k - 1)


def past_errors(
    z: Sequence[float | None],
    *,
    min_points: int,
    max_horizon: int,
    damping: float,
    diffuse_variance: float,
    burn: int,
) -> dict[int, list[float]]:
    """Squared standardised errors u² of the refitted model's forecasts from every past origin
    of ``z`` (a standardised series, None for a missing week), by horizon."""
    grid = _grid(damping, diffuse_variance)
    size = len(grid.level_ratio)
    a1 = np.zeros(size)
    a2 = np.zeros(size)
    p11 = np.full(size, diffuse_variance)
    p12 = np.zeros(size)
    p22 = grid.slope_start.copy()
    squares = np.zeros(size)  # Σ v²/F
    log_f = np.zeros(size)  # Σ log F
    used = seen = 0
    origins: list[tuple[int, int, float, float, float, float, float, float, float]] = []
    for t, y in enumerate(z):
        if t > 0:
            a1, a2, p11, p12, p22 = (
                a1 + a2,
                grid.damping * a2,
                p11 + 2 * p12 + p22 + grid.level_ratio,
                grid.damping * (p12 + p22),
                grid.damping**2 * p22 + grid.slope_ratio,
            )
        if y is not None:
            f = p11 + 1.0
            v = y - a1
            k1, k2 = p11 / f, p12 / f
            a1, a2 = a1 + k1 * v, a2 + k2 * v
            p11, p12, p22 = p11 - k1 * p11, p12 - k1 * p12, p22 - k2 * p12
            if seen >= burn:
                squares = squares + v * v / f
                log_f = log_f + np.log(f)
                used += 1
            seen += 1
        if seen >= min_points and used > 0 and t + 1 < len(z):
            g, noise = _choose(grid, squares, log_f, used)
            origins.append((t + 1, g, noise, a1[g], a2[g], p11[g], p12[g], p22[g], grid.damping[g]))
    errors: dict[int, list[float]] = {h: [] for h in range(1, max_horizon + 1)}
    for origin, g, noise, m1, m2, q11, q12, q22, phi in origins:
        level, slope = grid.level_ratio[g], grid.slope_ratio[g]
        for h in range(1, max_horizon + 1):
            m1, m2, q11, q12, q22 = (
                m1 + m2,
                phi * m2,
                q11 + 2 * q12 + q22 + level,
                phi * (q12 + q22),
                phi * phi * q22 + slope,
            )
            ahead = origin + h - 1
            if ahead >= len(z):
                break
            actual = z[ahead]
            if actual is None:
                continue
            variance = noise * (q11 + 1.0)
            if variance > 0:
                errors[h].append((actual - m1) ** 2 / variance)
    return errors


def _choose(grid: _Grid, squares: np.ndarray, log_f: np.ndarray, used: int) -> tuple[int, float]:
    """The grid point of the lower-AICc model at its profile-likelihood maximum, and its σ²_ε."""
    noise = np.maximum(squares / used, 1e-300)
    loglikelihood = -0.5 * log_f - 0.5 * used * (np.log(2 * math.pi * noise) + 1.0)
    best: tuple[float, int] | None = None
    for is_trend, parameters in ((False, 2), (True, 3)):
        index = np.flatnonzero(grid.is_trend == is_trend)
        g = int(index[np.argmax(loglikelihood[index])])
        score = _aicc(float(loglikelihood[g]), parameters, used)
        if best is None or score < best[0]:
            best = (score, g)
    assert best is not None
    return best[1], float(noise[best[1]])


def widenings(
    errors: dict[int, list[float]],
    *,
    level: float,
    prior_errors: float = PRIOR_ERRORS,
    min_errors: int = MIN_ERRORS,
) -> dict[int, Widening]:
    """The factor and Student-t quantile of each horizon (module docstring)."""
    upper = 0.5 + level / 2
    calibrated = [h for h, found in errors.items() if len(found) >= min_errors]
    longest = max(calibrated, default=0)
    result = {}
    for h in sorted(errors):
        source = min(h, longest)
        found = errors[source] if source else []
        effective = len(found) / math.sqrt(source) if source else 0.0
        mean_square = sum(found) / len(found) if found else 1.0
        factor = math.sqrt((prior_errors + effective * mean_square) / (prior_errors + effective))
        quantile = float(student_t.ppf(upper, prior_errors + effective))
        result[h] = Widening(factor, quantile, len(found))
    return result
