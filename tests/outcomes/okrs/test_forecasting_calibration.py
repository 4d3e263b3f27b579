"""The forecast interval's calibration: the past errors against a brute force over the same grid
with our statsmodels-checked filter, the widening by hand, and a simulation of the 80% interval's
coverage on the kinds of series key results are (print it with
``.venv/bin/python -m tests.outcomes.okrs.test_forecasting_calibration``)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from scipy.stats import t as student_t

from outcomes.okrs.calibration import (
    LOG_LEVEL_RATIOS,
    LOG_SLOPE_RATIOS,
    PRIOR_ERRORS,
    past_errors,
    widenings,
)
from outcomes.okrs.forecasting import (
    CALIBRATION_HORIZON,
    DAMPING,
    DIFFUSE_VARIANCE,
    INTERVAL_LEVEL,
    LOGLIKELIHOOD_BURN,
    MIN_POINTS,
    FilterState,
    TrendVariances,
    aicc,
    backtest,
    calibrate,
    calibrated_sd,
    fit_trend,
    forecast_moments,
    kalman_filter,
    normal_interval,
)

Z80 = 1.2815515655446004  # Φ⁻¹(0.9)


def _standardised(n: int, seed: int) -> list[float | None]:
    rng = np.random.default_rng(seed)
    level = np.cumsum(rng.normal(0.0, 0.4, n))
    values: list[float | None] = [float(v) for v in level + rng.normal(0, 1.0, n)]
    values[6] = None
    return values


def _brute_force_errors(z: list[float | None], max_horizon: int) -> dict[int, list[float]]:
    """Every grid point filtered separately with ``kalman_filter`` (σ²_ε = 1, then profiled),
    the lower-AICc model's best point per prefix, its forecasts with ``forecast_moments``."""
    points = [(math.exp(q), 0.0, "level") for q in LOG_LEVEL_RATIOS] + [
        (math.exp(q), math.exp(s), "trend") for q in LOG_LEVEL_RATIOS[::2] for s in LOG_SLOPE_RATIOS
    ]
    errors: dict[int, list[float]] = {h: [] for h in range(1, max_horizon + 1)}
    for origin in range(1, len(z)):
        prefix = z[:origin]
        observed = sum(v is not None for v in prefix)
        if observed < MIN_POINTS:
            continue
        n = observed - LOGLIKELIHOOD_BURN
        best: dict[str, tuple[float, float, FilterState, TrendVariances, float]] = {}
        for level, slope, kind in points:
            ratios = TrendVariances(1.0, level, slope)
            phi = DAMPING if kind == "trend" else 0.0
            start = None if kind == "trend" else 0.0
            unit = kalman_filter(prefix, ratios, damping=phi, slope_variance=start)
            # The same filter with σ²_ε = s²: its log-likelihood at the profile maximum s².
            residual = -2 * unit.loglikelihood - n * math.log(2 * math.pi)  # Σ log F + Σ v²/F
            lls = []
            for s2 in (1.0, 2.0):
                scaled = TrendVariances(s2, s2 * level, s2 * slope)
                lls.append(
                    kalman_filter(prefix, scaled, damping=phi, slope_variance=start).loglikelihood
                )
            # log L(s²) = −½(n log 2π + Σ log F + n log s² + Σ v²/F / s²) at s² = 1 and 2:
            # their difference gives Σ v²/F.
            sum_sq = 2 * n * math.log(2.0) - 4 * (lls[0] - lls[1])
            sum_log_f = residual - sum_sq
            s2_hat = sum_sq / n
            ll = -0.5 * (n * math.log(2 * math.pi * s2_hat) + sum_log_f + n)
            if kind not in best or ll > best[kind][0]:
                best[kind] = (ll, s2_hat, unit, ratios, phi)
        scores = {k: aicc(best[k][0], 2 if k == "level" else 3, n) for k in best}
        kind = "trend" if scores["trend"] < scores["level"] else "level"
        _, s2_hat, state, ratios, phi = best[kind]
        for h in range(1, max_horizon + 1):
            ahead = origin + h - 1
            if ahead >= len(z):
                break
            if z[ahead] is None:
                continue
            mean, variance = forecast_moments(state, ratios, h, damping=phi)
            errors[h].append((z[ahead] - mean) ** 2 / (s2_hat * variance))
    return errors


def test_past_errors_match_a_brute_force_over_the_grid():
    z = _standardised(16, seed=3)
    ours = past_errors(
        z,
        min_points=MIN_POINTS,
        max_horizon=4,
        damping=DAMPING,
        diffuse_variance=DIFFUSE_VARIANCE,
        burn=LOGLIKELIHOOD_BURN,
    )
    reference = _brute_force_errors(z, max_horizon=4)
    assert {h: len(v) for h, v in ours.items()} == {h: len(v) for h, v in reference.items()}
    for h in ours:
        assert ours[h] == pytest.approx(reference[h], rel=1e-6)
    # Origins 5..15 (the missing week 6 neither counted nor forecast): 10 one week ahead.
    assert len(ours[1]) == 10


def test_widening_by_hand():
    errors = {1: [0.5, 2.5, 3.0, 2.0], 2: [4.0, 6.0, 2.0], 3: [9.0, 1.0]}
    found = widenings(errors, level=0.8)
    # h = 1: m_eff = 4, mean u² = 2 → c² = (5 + 8) / 9.
    assert found[1].factor == pytest.approx(math.sqrt(13 / 9))
    assert found[1].quantile == pytest.approx(student_t.ppf(0.9, 9))
    # h = 2: m_eff = 3 / √2, mean u² = 4 → c² = (5 + 4 m_eff) / (5 + m_eff).
    m_eff = 3 / math.sqrt(2)
    assert found[2].factor == pytest.approx(math.sqrt((5 + 4 * m_eff) / (5 + m_eff)))
    assert found[2].quantile == pytest.approx(student_t.ppf(0.9, 5 + m_eff))
    # h = 3 has 2 errors (< 3): it takes horizon 2's widening.
    assert (found[3].factor, found[3].quantile, found[3].errors) == (
        found[2].factor,
        found[2].quantile,
        3,
    )


def test_without_past_errors_the_model_interval_takes_students_t_with_the_prior_weight():
    found = calibrate([0.40, 0.41, 0.39, 0.42, 0.40])  # 5 values: no origin with a later week
    assert set(found) == set(range(1, CALIBRATION_HORIZON + 1))
    for widening in found.values():
        assert widening.factor == 1.0
        assert widening.quantile == pytest.approx(student_t.ppf(0.9, PRIOR_ERRORS))
    assert calibrated_sd(0.01, 3, found) == pytest.approx(0.01 * student_t.ppf(0.9, 5) / Z80)
    # Part weeks take the next whole week; beyond the last calibrated week, the last one.
    assert calibrated_sd(0.01, 2.5, found) == calibrated_sd(0.01, 3, found)
    assert calibrated_sd(0.01, 40, found) == calibrated_sd(0.01, CALIBRATION_HORIZON, found)


def test_backtest_intervals_are_calibrated_on_the_prefix_alone():
    values = [0.4 + 0.002 * i + (0.01 if i % 3 else -0.01) for i in range(14)]
    pairs = [p for p in backtest(values, max_horizon=4) if p.origin == 9]
    fit = fit_trend(values[:9])
    widening = calibrate(values[:9])
    for pair in pairs:
        h = pair.horizon
        mean, variance = forecast_moments(fit.state, fit.variances, h, damping=fit.damping)
        sd = calibrated_sd(math.sqrt(variance), pair.horizon, widening)
        assert (pair.low, pair.high) == pytest.approx(normal_interval(mean, sd))
    assert len(pairs) == 4


# --- the simulation -------------------------------------------------------------------------
SEED = 20261205
SERIES = 200  # per process
LONGEST = 26  # forecast origins after 5…26 weekly values


def _random_walk(rng: np.random.Generator, n: int) -> np.ndarray:
    """A level that wanders (0.2–0.8 pp a week) under 1 pp of noise."""
    level = 0.45 + np.cumsum(rng.normal(0.0, rng.uniform(0.002, 0.008), n))
    return level + rng.normal(0.0, 0.01, n)


def _damped_trend(rng: np.random.Generator, n: int) -> np.ndarray:
    """A slope (sd 0.5 pp a week) that fades by a tenth a week and is renewed."""
    values, level, slope = [], 0.45, rng.normal(0.0, 0.005)
    for _ in range(n):
        values.append(level + rng.normal(0.0, 0.008))
        level += slope + rng.normal(0.0, 0.002)
        slope = DAMPING * slope + rng.normal(0.0, 0.001)
    return np.array(values)


def _cohorts(rng: np.random.Generator, n: int, drift_sd: float) -> np.ndarray:
    """What a key result measures: the rate of the last 4 weekly cohorts of 250 units, the
    true rate wandering (0.1–0.5 pp a week) and, with ``drift_sd``, drifting steadily."""
    rate, drift, wander = 0.45, rng.normal(0.0, drift_sd), rng.uniform(0.001, 0.005)
    weekly = []
    for _ in range(n + 3):
        weekly.append(rng.binomial(250, min(max(rate, 0.0), 1.0)) / 250)
        rate += drift + rng.normal(0.0, wander)
    return np.convolve(weekly, np.ones(4) / 4, mode="valid")


PROCESSES = {
    "random walk + noise": _random_walk,
    "damped trend": _damped_trend,
    "28-day cohorts": lambda rng, n: _cohorts(rng, n, 0.0),
    "28-day cohorts, drifting": lambda rng, n: _cohorts(rng, n, 0.003),
}


@cache
def simulated_coverage(process: str) -> tuple[list[float], list[float]]:
    """The share of values inside the 80% interval at horizons 1…13, calibrated and the model's
    own, over ``SERIES`` series each forecast from one origin (uniform in 5…``LONGEST``)."""
    rng = np.random.default_rng([SEED, list(PROCESSES).index(process)])
    inside = np.zeros((2, CALIBRATION_HORIZON))
    for _ in range(SERIES):
        origin = int(rng.integers(MIN_POINTS, LONGEST + 1))
        series = [float(v) for v in PROCESSES[process](rng, origin + CALIBRATION_HORIZON)]
        prefix = series[:origin]
        fit = fit_trend(prefix)
        widening = calibrate(prefix)
        for h in range(1, CALIBRATION_HORIZON + 1):
            mean, variance = forecast_moments(fit.state, fit.variances, h, damping=fit.damping)
            actual = series[origin + h - 1]
            for row, sd in enumerate(
                (calibrated_sd(math.sqrt(variance), h, widening), math.sqrt(variance))
            ):
                low, high = normal_interval(mean, sd, INTERVAL_LEVEL)
                inside[row, h - 1] += low <= actual <= high
    calibrated, model = (inside / SERIES).tolist()
    return calibrated, model


@pytest.mark.parametrize("process", list(PROCESSES))
def test_the_calibrated_80_percent_interval_is_not_overconfident_at_any_horizon(process):
    """The figures are in docs/statistics.md ("Key result forecast"). Asserted: 80 ± 6 points
    over the first four weeks; never under 68% (the model alone falls to 60% on the damped
    trend and the drift); at most 92% (the 28-day cohorts over-cover 9–13 weeks ahead: the
    model's variance grows with the horizon where the cohorts' noise does not, and the few
    long errors cannot take it back). The target of 80 ± 5 at every horizon is not met."""
    calibrated, _ = simulated_coverage(process)
    shown = [round(c, 3) for c in calibrated]
    assert all(0.74 <= c <= 0.86 for c in calibrated[:4]), shown
    assert min(calibrated) >= 0.68, shown
    assert max(calibrated) <= 0.92, shown


def test_the_model_interval_alone_is_overconfident():
    """The simulation can tell: with its variances taken as known, the model's 80% interval
    holds under 68% of values somewhere on the damped trend and on the drifting cohorts."""
    for process in ("damped trend", "28-day cohorts, drifting"):
        _, model = simulated_coverage(process)
        assert min(model) < 0.68, (process, model)


if __name__ == "__main__":
    print("process".ljust(26), " ".join(f"{h:>4}" for h in range(1, CALIBRATION_HORIZON + 1)))
    for name in PROCESSES:
        cal, own = simulated_coverage(name)
        print(name.ljust(26), " ".join(f"{c * 100:4.0f}" for c in cal))
        print("  model alone".ljust(26), " ".join(f"{c * 100:4.0f}" for c in own))
