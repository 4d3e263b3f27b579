"""The forecast's math against statsmodels' own Kalman filter and optimiser, the odds against a
Monte Carlo simulation, and the weekly thinning and backtest against hand-made cases."""

from __future__ import annotations

import math
import warnings
from datetime import date, timedelta

import numpy as np
import pytest
from statsmodels.tsa.statespace.mlemodel import MLEModel
from statsmodels.tsa.statespace.structural import UnobservedComponents

from outcomes.okrs.forecasting import (
    DAMPING,
    MIN_POINTS,
    NOT_AHEAD,
    Contribution,
    TrendVariances,
    aicc,
    backtest,
    calibrate,
    calibrated_sd,
    cohort_share_after,
    fit_local_linear_trend,
    fit_model,
    fit_trend,
    forecast_moments,
    kalman_filter,
    normal_interval,
    outlook_status,
    probability_of_reaching,
    summarise,
    trend_forecast,
    weekly_series,
)

VARIANCES = TrendVariances(irregular=1.6e-5, level=9e-6, trend=2e-6)


def _series(n: int = 20, seed: int = 1, missing: tuple[int, ...] = (7,)) -> list[float | None]:
    rng = np.random.default_rng(seed)
    level = np.cumsum(rng.normal(0.002, 0.003, n)) + 0.4
    values: list[float | None] = [float(v) for v in level + rng.normal(0, 0.004, n)]
    for i in missing:
        values[i] = None
    return values


def _array(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values])


class DampedTrend(MLEModel):
    """The damped local linear trend written directly as statsmodels' state space model: an
    independent reference for our filter (statsmodels' Kalman filter, not ours)."""

    def __init__(self, endog: np.ndarray, damping: float) -> None:
        super().__init__(endog, k_states=2, k_posdef=2, initialization="approximate_diffuse")
        self.ssm.initialization.approximate_diffuse_variance = 1e6
        self.loglikelihood_burn = 2
        self["design"] = np.array([[1.0, 0.0]])
        self["transition"] = np.array([[1.0, 1.0], [0.0, damping]])
        self["selection"] = np.eye(2)

    def update(self, params, **kwargs) -> None:  # type: ignore[no-untyped-def]
        params = super().update(params, **kwargs)
        self["obs_cov", 0, 0] = params[0]
        self["state_cov"] = np.diag(params[1:])

    @property
    def start_params(self) -> np.ndarray:
        return np.array([1e-5, 1e-5, 1e-6])


def test_undamped_filter_and_forecast_equal_statsmodels_local_linear_trend():
    values = _series()
    model = UnobservedComponents(_array(values), level="local linear trend")
    reference = model.smooth([VARIANCES.irregular, VARIANCES.level, VARIANCES.trend])
    forecast = reference.get_forecast(6)

    state = kalman_filter(values, VARIANCES, damping=1.0)

    assert state.loglikelihood == pytest.approx(reference.llf, abs=1e-5)
    for h in range(1, 7):
        mean, variance = forecast_moments(state, VARIANCES, h, damping=1.0)
        assert mean == pytest.approx(forecast.predicted_mean[h - 1], rel=1e-7)
        assert variance == pytest.approx(forecast.var_pred_mean[h - 1], rel=1e-7)


@pytest.mark.parametrize("damping", [DAMPING, 0.5])
def test_damped_filter_and_forecast_equal_statsmodels_state_space(damping):
    values = _series(n=16, seed=4, missing=(3, 11))
    reference = DampedTrend(_array(values), damping).smooth(
        [VARIANCES.irregular, VARIANCES.level, VARIANCES.trend]
    )
    forecast = reference.get_forecast(9)

    state = kalman_filter(values, VARIANCES, damping=damping)

    assert state.loglikelihood == pytest.approx(reference.llf, abs=1e-5)
    for h in (1, 2, 5, 9):
        mean, variance = forecast_moments(state, VARIANCES, h, damping=damping)
        assert mean == pytest.approx(forecast.predicted_mean[h - 1], rel=1e-7)
        assert variance == pytest.approx(forecast.var_pred_mean[h - 1], rel=1e-7)


def test_local_level_filter_and_forecast_equal_statsmodels_local_level():
    values = _series(n=15, seed=8, missing=(4,))
    variances = TrendVariances(irregular=2e-5, level=5e-6, trend=0.0)
    reference = UnobservedComponents(_array(values), level="local level").smooth(
        [variances.irregular, variances.level]
    )
    forecast = reference.get_forecast(4)

    # statsmodels leaves one value out of the local level's likelihood (one diffuse state).
    state = kalman_filter(values, variances, damping=0.0, slope_variance=0.0, burn=1)

    assert state.loglikelihood == pytest.approx(reference.llf, abs=1e-5)
    for h in (1, 4):
        mean, variance = forecast_moments(state, variances, h, damping=0.0)
        assert mean == pytest.approx(forecast.predicted_mean[h - 1], rel=1e-7)
        assert variance == pytest.approx(forecast.var_pred_mean[h - 1], rel=1e-7)


def test_the_local_level_fit_reaches_statsmodels_optimum():
    values = _series(n=20, seed=11)
    fit = fit_model(values, model="local_level")
    # Scored with the same conditioning (two values) in statsmodels.
    model = UnobservedComponents(_array(values), level="local level")
    model.loglikelihood_burn = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = model.fit(disp=False)
    ours = np.array([fit.variances.irregular, fit.variances.level])
    assert model.loglike(ours) >= reference.llf - 1e-4
    assert fit.state.slope == 0.0


def test_aicc_by_hand():
    assert aicc(10.0, 2, 12) == pytest.approx(-20 + 4 + 12 / 9)
    assert aicc(10.0, 3, 4) == math.inf


def test_the_trend_model_is_chosen_for_a_trend_and_the_level_for_noise():
    rng = np.random.default_rng(3)
    weeks = np.arange(14)
    trending = list(0.30 + 0.006 * weeks + rng.normal(0, 0.002, 14))
    flat = list(0.30 + rng.normal(0, 0.006, 14))

    fit_up, fit_flat = fit_trend(trending), fit_trend(flat)

    assert (fit_up.model, fit_up.damping) == ("damped_trend", DAMPING)
    assert fit_up.aicc < fit_model(trending, model="local_level").aicc
    m4, _ = forecast_moments(fit_up.state, fit_up.variances, 4)
    m40, _ = forecast_moments(fit_up.state, fit_up.variances, 40)
    assert m4 > trending[-1] + 0.01  # it carries the trend on…
    # …but the slope fades: at most Σφᵏ = 1/(1 − φ) = 10 weeks of it, however far ahead.
    assert fit_up.state.slope * 9 < m40 - fit_up.state.level < fit_up.state.slope / (1 - DAMPING)
    assert fit_flat.model == "local_level"
    assert fit_flat.aicc <= fit_model(flat, model="damped_trend").aicc
    mean, _ = forecast_moments(fit_flat.state, fit_flat.variances, 13, damping=fit_flat.damping)
    assert mean == pytest.approx(fit_flat.state.level)  # no slope: the level carries on


def test_the_closed_form_of_the_undamped_forecast_variance():
    """For φ = 1: P₁₁ + 2hP₁₂ + h²P₂₂ + hσ²_η + σ²_ζ(h−1)h(2h−1)/6 + σ²_ε (Harvey 1989)."""
    state = kalman_filter(_series(), VARIANCES, damping=1.0)
    for h in (1, 3, 10):
        _, variance = forecast_moments(state, VARIANCES, h, damping=1.0)
        closed = (
            state.p11
            + 2 * h * state.p12
            + h * h * state.p22
            + h * VARIANCES.level
            + VARIANCES.trend * (h - 1) * h * (2 * h - 1) / 6
            + VARIANCES.irregular
        )
        assert variance == pytest.approx(closed, rel=1e-12)


def test_part_weeks_interpolate_between_whole_weeks():
    state = kalman_filter(_series(), VARIANCES)
    m2, v2 = forecast_moments(state, VARIANCES, 2)
    m3, v3 = forecast_moments(state, VARIANCES, 3)
    m, v = forecast_moments(state, VARIANCES, 2.25)
    assert m == pytest.approx(0.75 * m2 + 0.25 * m3, rel=1e-12)
    assert v == pytest.approx(0.75 * v2 + 0.25 * v3, rel=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fit_reaches_at_least_the_likelihood_statsmodels_reaches(seed):
    """Our maximum likelihood, scored by statsmodels' own likelihood, is at least as high as
    the optimum statsmodels' optimiser finds for the undamped model."""
    values = _series(n=24, seed=seed)
    model = UnobservedComponents(_array(values), level="local linear trend")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = model.fit(disp=False)

    fit = fit_local_linear_trend(values, damping=1.0)

    ours = [fit.variances.irregular, fit.variances.level, fit.variances.trend]
    assert model.loglike(np.array(ours)) >= reference.llf - 1e-4
    assert fit.state.loglikelihood == pytest.approx(model.loglike(np.array(ours)), abs=1e-3)


def test_the_damped_fit_reaches_statsmodels_optimum():
    values = _series(n=24, seed=5)
    model = DampedTrend(_array(values), DAMPING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = model.fit(disp=False, maxiter=500)

    fit = fit_local_linear_trend(values)

    ours = np.array([fit.variances.irregular, fit.variances.level, fit.variances.trend])
    assert model.loglike(ours) >= reference.llf - 1e-4


def test_the_fit_does_not_depend_on_the_series_units():
    values = _series(n=18, seed=7)
    fit = fit_local_linear_trend(values)
    scaled = fit_local_linear_trend([None if v is None else 100 * v + 3 for v in values])
    for h in (1, 4):
        m, v = forecast_moments(fit.state, fit.variances, h)
        ms, vs = forecast_moments(scaled.state, scaled.variances, h)
        assert ms == pytest.approx(100 * m + 3, rel=1e-5)
        assert vs == pytest.approx(1e4 * v, rel=1e-3)


def test_too_few_values_give_a_message_not_a_forecast():
    fit = fit_local_linear_trend([0.3, 0.31, None, 0.32])
    assert not fit.ok
    assert fit.message == f"Only 3 weekly value(s) so far; a forecast needs {MIN_POINTS}."

    start = date(2026, 10, 1)
    points = [(start + timedelta(days=7 * i), 0.3) for i in range(3)]
    forecast = trend_forecast(points, on=date(2026, 12, 31))
    assert (forecast.mean, forecast.low, forecast.message) == (None, None, fit.message)


def test_a_forecast_before_the_last_value_is_refused():
    start = date(2026, 10, 1)
    points = [(start + timedelta(days=7 * i), 0.3 + 0.001 * i) for i in range(8)]
    assert trend_forecast(points, on=start).message == NOT_AHEAD


def test_a_flat_series_forecasts_its_level():
    start = date(2026, 10, 1)
    points = [(start + timedelta(days=7 * i), 0.42) for i in range(8)]
    forecast = trend_forecast(points, on=start + timedelta(days=7 * 10))
    assert forecast.mean == pytest.approx(0.42, abs=1e-6)
    assert forecast.sd is not None
    assert forecast.sd < 0.01


def test_trend_forecast_path_ends_at_the_forecast_and_widens():
    start = date(2026, 10, 1)
    values = _series(n=9, seed=3, missing=())
    points = [(start + timedelta(days=7 * i), v) for i, v in enumerate(values) if v is not None]
    on = date(2026, 12, 31)
    forecast = trend_forecast(points, on=on)

    last = start + timedelta(days=56)
    assert forecast.ok
    assert forecast.last_date == last
    fit = fit_trend(values)
    mean, variance = forecast_moments(
        fit.state, fit.variances, (on - last).days / 7, damping=fit.damping
    )
    assert forecast.mean == pytest.approx(mean)
    assert forecast.model_sd == pytest.approx(math.sqrt(variance))
    steps = (on - last).days / 7
    widened = calibrated_sd(math.sqrt(variance), steps, calibrate(values))
    assert forecast.sd == pytest.approx(widened)
    assert (forecast.low, forecast.high) == pytest.approx(normal_interval(mean, forecast.sd))
    assert forecast.path[0][0] == last
    assert forecast.path[-1][0] == on
    assert forecast.path[-1][1] == pytest.approx(forecast.mean)
    widths = [high - low for _, _, low, high in forecast.path]
    assert widths == sorted(widths)


def test_weekly_series_keeps_the_latest_value_of_each_week_ending_on_the_last_date():
    d = date(2026, 10, 1)
    points = [
        (d, 1.0),
        (d + timedelta(days=3), 2.0),
        (d + timedelta(days=5), 3.0),  # same week as the 4th: the later one wins
        (d + timedelta(days=19), 4.0),  # nothing in the week before: a gap
        (d + timedelta(days=26), 5.0),
        (d + timedelta(days=26), 6.0),  # same day: the last given wins
    ]
    series = weekly_series(points)
    assert series.dates == tuple(d + timedelta(days=26 - 7 * k) for k in (3, 2, 1, 0))
    # Weeks end on Oct 6, 13, 20, 27: (Sep 29–Oct 6] holds Oct 1, 4, 6 → 3.0.
    assert series.values == (3.0, None, 4.0, 6.0)
    assert weekly_series([]).values == ()


# --- the odds -----------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["increase", "decrease"])
def test_probability_matches_a_monte_carlo_of_the_sum(direction):
    rng = np.random.default_rng(20261205)
    contributions = [Contribution(0.008, 0.004), Contribution(-0.002, 0.003)]
    trend_mean, trend_sd, target = 0.31, 0.02, 0.325
    n = 400_000
    draws = rng.normal(trend_mean, trend_sd, n)
    for c in contributions:
        draws += rng.normal(c.mean, c.sd, n)
    simulated = np.mean(draws >= target) if direction == "increase" else np.mean(draws <= target)

    p = probability_of_reaching(
        mean=trend_mean,
        sd=trend_sd,
        target=target,
        direction=direction,
        contributions=contributions,
    )

    assert p == pytest.approx(simulated, abs=0.003)  # ~4 Monte Carlo standard errors


def test_probability_of_the_shipped_lift_times_a_random_level_is_close_to_the_normal_sum():
    """The contributions are projected onto the trend's mean; simulating the product of the
    random level and the random lift shows what that approximation costs."""
    rng = np.random.default_rng(7)
    n = 400_000
    level = rng.normal(0.45, 0.02, n)
    lift = rng.normal(0.06, 0.035, n)  # relative, posterior after shrinkage
    reach = 0.9 * 0.7 * 0.5  # reach × share of the cohort × not yet treated
    target = 0.47
    simulated = np.mean(level * (1 + reach * lift) >= target)

    p = probability_of_reaching(
        mean=0.45,
        sd=0.02,
        target=target,
        direction="increase",
        contributions=[Contribution(0.45 * reach * 0.06, 0.45 * reach * 0.035)],
    )

    assert p == pytest.approx(simulated, abs=0.005)


def test_probability_without_uncertainty_is_certain():
    assert probability_of_reaching(mean=0.5, sd=0, target=0.5, direction="increase") == 1.0
    assert probability_of_reaching(mean=0.5, sd=0, target=0.49, direction="decrease") == 0.0


@pytest.mark.parametrize(
    ("p", "status"),
    [
        (0.95, "on_track"),
        (0.7, "on_track"),
        (0.69, "at_risk"),
        (0.3, "at_risk"),
        (0.29, "off_track"),
    ],
)
def test_status_thresholds(p, status):
    assert outlook_status(p) == status


@pytest.mark.parametrize(
    ("ships_on", "share"),
    [
        (date(2026, 11, 1), 1.0),  # before the final cohort starts: all of it
        (date(2026, 11, 27), 1.0),  # the cohort's first day
        (date(2026, 12, 5), 20 / 28),
        (date(2026, 12, 24), 1 / 28),
        (date(2026, 12, 25), 0.0),  # the cohort ended: units starting later are not in it
        (date(2027, 1, 10), 0.0),
    ],
)
def test_cohort_share_after_shipping(ships_on, share):
    """Period ends 31 Dec; a 7-day metric over 28-day cohorts: the last value is measured at the
    end of 31 Dec over units starting 27 Nov to 24 Dec inclusive."""
    assert cohort_share_after(
        ships_on=ships_on, period_end=date(2026, 12, 31), cohort_days=28, maturity_days=7
    ) == pytest.approx(share)


# --- backtest -----------------------------------------------------------------------------
def test_backtest_pairs_are_forecasts_from_each_prefix():
    values = _series(n=12, seed=9, missing=(8,))
    pairs = backtest(values, max_horizon=3)

    first = pairs[0]
    assert (first.origin, first.horizon) == (MIN_POINTS, 1)
    fit = fit_trend(values[:MIN_POINTS])
    mean, variance = forecast_moments(fit.state, fit.variances, 1, damping=fit.damping)
    assert first.forecast == pytest.approx(mean)
    assert first.actual == values[MIN_POINTS]
    # The interval is calibrated (test_forecasting_calibration.py); uncalibrated, the model's.
    widened = calibrated_sd(math.sqrt(variance), 1, calibrate(values[:MIN_POINTS]))
    assert (first.low, first.high) == pytest.approx(normal_interval(mean, widened))
    own = backtest(values, max_horizon=3, calibrated=False)[0]
    assert (own.low, own.high) == pytest.approx(normal_interval(mean, math.sqrt(variance)))
    assert all(p.horizon <= 3 for p in pairs)
    assert not any(p.origin + p.horizon - 1 == 8 for p in pairs)  # the missing week
    # Origins 5..11, each with up to 3 observed weeks ahead, the missing one left out.
    expected = sum(
        1
        for origin in range(MIN_POINTS, 12)
        for ahead in range(origin, min(12, origin + 3))
        if ahead != 8 and sum(v is not None for v in values[:origin]) >= MIN_POINTS
    )
    assert len(pairs) == expected


def test_summary_errors_by_hand():
    from outcomes.okrs.forecasting import BacktestPair

    pairs = [
        BacktestPair(5, 1, forecast=0.50, low=0.45, high=0.55, actual=0.40, naive=0.44),
        BacktestPair(5, 2, forecast=0.30, low=0.25, high=0.35, actual=0.32, naive=0.44),
    ]
    summary = summarise(pairs)
    assert summary.pairs == 2
    assert summary.mae == pytest.approx((0.10 + 0.02) / 2)
    assert summary.mape == pytest.approx((0.10 / 0.40 + 0.02 / 0.32) / 2)
    assert summary.coverage == 0.5
    assert summary.naive_mae == pytest.approx((0.04 + 0.12) / 2)
