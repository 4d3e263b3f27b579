"""Will we hit the key result? The forecast, the odds and their backtest, as plain math.

No Django here (an import-linter contract keeps it so): dated values in, frozen values out.

* **Series.** A key result's check-ins are thinned to one value a week (``weekly_series``): its
  value is a metric over the latest ``cohort_days`` of units, so consecutive daily values share
  most of their units and would look far smoother than the metric really moves.
* **Model.** A damped local linear trend (Harvey 1989, *Forecasting, Structural Time Series
  Models and the Kalman Filter*, §2.3.2, with the damped slope of Gardner & McKenzie 1985):
  y_t = μ_t + ε_t, μ_{t+1} = μ_t + β_t + η_t, β_{t+1} = φ·β_t + ζ_t, with ε, η, ζ independent
  normal noises of variances σ²_ε, σ²_η, σ²_ζ and φ = ``DAMPING`` (φ = 1 is the plain local
  linear trend of statsmodels' ``UnobservedComponents``), or its special case without a slope,
  the local level (σ²_ζ = 0, β = 0), whichever has the lower AICc (Hurvich & Tsai 1989; the
  automatic choice of Hyndman et al. 2002 among exponential-smoothing models): a series that
  only wanders is not extrapolated as a trend (on the demo data the level is chosen every time,
  and the damped trend alone forecasts worse: docs/outcomes.md, "Backtest"). The Kalman filter
  runs from an approximately diffuse start (variance ``DIFFUSE_VARIANCE`` on the standardised scale)
  and leaves the first two observations out of the likelihood, as statsmodels'
  ``UnobservedComponents(level="local linear trend")`` does (both models, so that their
  likelihoods compare); the variances are fitted by maximum likelihood on log scale. Missing
  weeks are skipped (prediction without update).
* **Forecast.** h weeks after the last filtered state: the filter's prediction step run h
  times without an update, its level's mean and variance plus σ²_ε (the observation at the end,
  noise included); between whole weeks, mean and variance are interpolated linearly. For
  φ = 1 this is μ + hβ and P₁₁ + 2hP₁₂ + h²P₂₂ + hσ²_η + σ²_ζ·(h−1)h(2h−1)/6 + σ²_ε.
* **Odds.** The value at the end is normal: the trend's forecast plus the independent, normal
  contributions of changes not yet in the series (``Contribution``): P(value ≥ target) for a
  key result to increase, P(value ≤ target) for one to decrease (``probability_of_reaching``).
* **Backtest.** Rolling origin (Tashman 2000, *Int. J. Forecasting* 16(4)): fit on the first k
  weeks, forecast every later week up to ``max_horizon`` weeks ahead, compare with what came.

Too little data gives a result with a message (``TOO_FEW_POINTS``), never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist
from typing import Literal

import numpy as np
from scipy.optimize import minimize

from outcomes.okrs.calibration import Widening, past_errors, widenings

Direction = Literal["increase", "decrease"]
Model = Literal["local_level", "damped_trend"]
Status = Literal["on_track", "at_risk", "off_track"]

STEP_DAYS = 7
# The slope keeps this share of itself from one week to the next: a trend seen now fades over
# a few months instead of running on for ever, the usual guard of damped-trend forecasting.
DAMPING = 0.9
# Two observations pin down a level and a slope; the likelihood needs a few more to say
# anything about the three noises. Fewer weekly values than this give no forecast.
MIN_POINTS = 5
# The start's variance, on the standardised scale (values in units of their typical weekly
# change): large enough to be diffuse, small enough to keep the arithmetic exact.
DIFFUSE_VARIANCE = 1e6
LOGLIKELIHOOD_BURN = 2
# Log-variance bounds on the standardised scale: a noise below e⁻¹⁸ is zero for any purpose.
LOG_VARIANCE_BOUNDS = (-18.0, 6.0)
INTERVAL_LEVEL = 0.80
# The interval is calibrated by the series' own past errors up to this many weeks ahead
# (``outcomes/okrs/calibration.py``); further ahead, the longest calibrated horizon's widening.
CALIBRATION_HORIZON = 13
# The odds at which a key result is on track (at least) or off track (below).
ON_TRACK_PROBABILITY = 0.70
OFF_TRACK_PROBABILITY = 0.30

OK = "ok"
TOO_FEW_POINTS = "Only {n} weekly value(s) so far; a forecast needs {minimum}."
NOT_FINITE = "Every value must be a finite number."
NOT_AHEAD = "The forecast date must not be before the last value."

_NORMAL = NormalDist()


# --- the weekly series --------------------------------------------------------------------
@dataclass(frozen=True)
class WeeklySeries:
    """One value (or None for a week without one) per week, ending at ``dates[-1]``."""

    dates: tuple[date, ...]
    values: tuple[float | None, ...]

    @property
    def observed(self) -> int:
        return sum(v is not None for v in self.values)

    @property
    def last_date(self) -> date | None:
        return self.dates[-1] if self.dates else None


def weekly_series(
    points: Iterable[tuple[date, float]], *, step_days: int = STEP_DAYS
) -> WeeklySeries:
    """Thin dated values to a weekly grid that ends on the last value's date.

    Grid date d takes the latest value dated in (d − step, d]; a week without one is None.
    Values sharing a date: the last one given wins.
    """
    by_day: dict[date, float] = {}
    for day, value in points:
        by_day[day] = float(value)
    if not by_day:
        return WeeklySeries((), ())
    days = sorted(by_day)
    last, first = days[-1], days[0]
    weeks = (last - first).days // step_days
    dates = tuple(last - timedelta(days=step_days * k) for k in range(weeks, -1, -1))
    values: list[float | None] = []
    for grid_day in dates:
        inside = [d for d in days if grid_day - timedelta(days=step_days) < d <= grid_day]
        values.append(by_day[inside[-1]] if inside else None)
    return WeeklySeries(dates, tuple(values))


# --- the local linear trend ---------------------------------------------------------------
@dataclass(frozen=True)
class TrendVariances:
    """σ²_ε (irregular), σ²_η (level) and σ²_ζ (trend), in the series' units squared."""

    irregular: float
    level: float
    trend: float


@dataclass(frozen=True)
class FilterState:
    """The filtered state after the last value: level, slope and their covariance."""

    level: float
    slope: float
    p11: float
    p12: float
    p22: float
    loglikelihood: float


def kalman_filter(
    values: Sequence[float | None],
    variances: TrendVariances,
    *,
    damping: float = DAMPING,
    diffuse_variance: float = DIFFUSE_VARIANCE,
    slope_variance: float | None = None,
    burn: int = LOGLIKELIHOOD_BURN,
) -> FilterState:
    """Run the damped local linear trend's Kalman filter over ``values`` (None: a missing week).

    Start: level = slope = 0 with variance ``diffuse_variance`` each, uncorrelated. The
    log-likelihood sums the prediction-error densities of the observations after the first
    ``burn`` ones (Durbin & Koopman 2012, eq. 7.2).
    """
    irregular = variances.irregular
    a1 = a2 = 0.0
    p11 = diffuse_variance
    p22 = diffuse_variance if slope_variance is None else slope_variance
    p12 = 0.0
    loglikelihood = 0.0
    seen = 0
    for t, y in enumerate(values):
        if t > 0:  # predict: a ← T a, P ← T P Tᵀ + Q with T = [[1, 1], [0, φ]]
            a1, a2, p11, p12, p22 = _predict(a1, a2, p11, p12, p22, variances, damping)
        if y is None:
            continue
        f = p11 + irregular  # prediction-error variance
        v = y - a1
        k1, k2 = p11 / f, p12 / f
        a1, a2 = a1 + k1 * v, a2 + k2 * v
        p11, p12, p22 = p11 - k1 * p11, p12 - k1 * p12, p22 - k2 * p12
        if seen >= burn:
            loglikelihood -= 0.5 * (math.log(2 * math.pi * f) + v * v / f)
        seen += 1
    return FilterState(a1, a2, p11, p12, p22, loglikelihood)


def _predict(
    a1: float,
    a2: float,
    p11: float,
    p12: float,
    p22: float,
    variances: TrendVariances,
    damping: float,
) -> tuple[float, float, float, float, float]:
    """One prediction step of the state (level a1, slope a2) and its covariance."""
    return (
        a1 + a2,
        damping * a2,
        p11 + 2 * p12 + p22 + variances.level,
        damping * (p12 + p22),
        damping * damping * p22 + variances.trend,
    )


def forecast_moments(
    state: FilterState, variances: TrendVariances, steps: float, *, damping: float = DAMPING
) -> tuple[float, float]:
    """Return the mean and variance of the observation ``steps`` (≥ 0) weeks after the state."""
    whole = math.floor(steps)
    a1, a2, p11, p12, p22 = state.level, state.slope, state.p11, state.p12, state.p22
    for _ in range(whole):
        a1, a2, p11, p12, p22 = _predict(a1, a2, p11, p12, p22, variances, damping)
    mean, variance = a1, p11 + variances.irregular
    fraction = steps - whole
    if fraction > 0:
        b1, _, q11, _, _ = _predict(a1, a2, p11, p12, p22, variances, damping)
        mean += fraction * (b1 - a1)
        variance += fraction * (q11 - p11)
    return mean, max(variance, 0.0)


@dataclass(frozen=True)
class TrendFit:
    """A fitted model: its variances and final state, in the series' units.

    ``model`` is ``local_level`` (no slope: σ²_ζ = 0, slope fixed at 0) or ``damped_trend``;
    ``aicc`` the small-sample Akaike criterion the two are compared by.
    """

    variances: TrendVariances
    state: FilterState
    points: int
    model: Model = "damped_trend"
    damping: float = DAMPING
    aicc: float = math.inf
    message: str = OK

    @property
    def ok(self) -> bool:
        return self.message == OK


def _standardise(values: Sequence[float | None]) -> tuple[list[float | None], float, float]:
    """Shift by the first value and scale by the typical weekly change (its mean absolute size)."""
    observed = [float(v) for v in values if v is not None]
    centre = observed[0]
    changes = [abs(b - a) for a, b in zip(observed, observed[1:], strict=False)]
    scale = sum(changes) / len(changes) if changes else 0.0
    if not scale > 0:
        scale = abs(centre) * 0.01 or 1.0
    return [None if v is None else (float(v) - centre) / scale for v in values], centre, scale


def aicc(loglikelihood: float, parameters: int, observations: int) -> float:
    """−2 log L + 2k + 2k(k + 1)/(n − k − 1) (Hurvich & Tsai 1989); infinite when n ≤ k + 1."""
    if observations - parameters - 1 <= 0:
        return math.inf
    k = parameters
    return -2 * loglikelihood + 2 * k + 2 * k * (k + 1) / (observations - k - 1)


def fit_model(
    values: Sequence[float | None], *, model: Model, damping: float = DAMPING
) -> TrendFit:
    """Fit one model's variances by maximum likelihood and filter to the end.

    ``damped_trend`` fits σ²_ε, σ²_η, σ²_ζ; ``local_level`` σ²_ε, σ²_η with no slope. Both
    condition on the first ``LOGLIKELIHOOD_BURN`` values, so their likelihoods compare. Fitted
    on the standardised series (``_standardise``), reported in the series' units; the
    optimiser (Powell's, derivative-free, on log-variances within ``LOG_VARIANCE_BOUNDS``)
    starts from three points and keeps the best.
    """
    observed = [v for v in values if v is not None]
    empty = FilterState(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    zero = TrendVariances(0.0, 0.0, 0.0)
    slope = model == "damped_trend"
    phi = damping if slope else 0.0
    if len(observed) < MIN_POINTS:
        too_few = TOO_FEW_POINTS.format(n=len(observed), minimum=MIN_POINTS)
        return TrendFit(zero, empty, len(observed), model, phi, message=too_few)
    if not all(math.isfinite(v) for v in observed):
        return TrendFit(zero, empty, len(observed), model, phi, message=NOT_FINITE)
    z, centre, scale = _standardise(values)
    slope_start = None if slope else 0.0

    def variances_of(log_variances: np.ndarray) -> TrendVariances:
        irregular, level = math.exp(float(log_variances[0])), math.exp(float(log_variances[1]))
        trend = math.exp(float(log_variances[2])) if slope else 0.0
        return TrendVariances(irregular, level, trend)

    def negative_loglikelihood(log_variances: np.ndarray) -> float:
        variances = variances_of(log_variances)
        return -kalman_filter(z, variances, damping=phi, slope_variance=slope_start).loglikelihood

    k = 3 if slope else 2
    best = None
    for start in ((0.0, -2.0, -4.0), (-2.0, 0.0, -6.0), (-4.0, -4.0, -2.0)):
        result = minimize(
            negative_loglikelihood,
            np.array(start[:k]),
            method="Powell",
            bounds=[LOG_VARIANCE_BOUNDS] * k,
            options={"xtol": 1e-6, "ftol": 1e-10},
        )
        if best is None or result.fun < best.fun:
            best = result
    assert best is not None
    fitted = variances_of(best.x)
    state = kalman_filter(z, fitted, damping=phi, slope_variance=slope_start)
    s2 = scale * scale
    n = len(observed) - LOGLIKELIHOOD_BURN
    # The density of the original values: each one's is that of z divided by the scale.
    loglikelihood = state.loglikelihood - n * math.log(scale)
    return TrendFit(
        variances=TrendVariances(fitted.irregular * s2, fitted.level * s2, fitted.trend * s2),
        state=FilterState(
            level=centre + scale * state.level,
            slope=scale * state.slope,
            p11=s2 * state.p11,
            p12=s2 * state.p12,
            p22=s2 * state.p22,
            loglikelihood=loglikelihood,
        ),
        points=len(observed),
        model=model,
        damping=phi,
        aicc=aicc(loglikelihood, k, n),
    )


def fit_local_linear_trend(values: Sequence[float | None], *, damping: float = DAMPING) -> TrendFit:
    """The damped local linear trend alone (``damping`` = 1: the undamped one)."""
    return fit_model(values, model="damped_trend", damping=damping)


def fit_trend(values: Sequence[float | None]) -> TrendFit:
    """Fit the local level and the damped local linear trend; keep the lower AICc (the level
    on a tie: the simpler model). Without enough values, the message of either."""
    level = fit_model(values, model="local_level")
    if not level.ok:
        return level
    trend = fit_model(values, model="damped_trend")
    return trend if trend.aicc < level.aicc else level


# --- the forecast at a date ---------------------------------------------------------------
def normal_interval(mean: float, sd: float, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of N(mean, sd²)."""
    z = _NORMAL.inv_cdf(0.5 + level / 2)
    return mean - z * sd, mean + z * sd


def calibrate(
    values: Sequence[float | None], *, level: float = INTERVAL_LEVEL
) -> dict[int, Widening]:
    """How the model's interval widens at each horizon 1…``CALIBRATION_HORIZON``, from the
    model's own rolling-origin errors on ``values`` (``outcomes.okrs.calibration``)."""
    if sum(v is not None for v in values) < MIN_POINTS:
        errors: dict[int, list[float]] = {h: [] for h in range(1, CALIBRATION_HORIZON + 1)}
    else:
        z, _, _ = _standardise(values)
        errors = past_errors(
            z,
            min_points=MIN_POINTS,
            max_horizon=CALIBRATION_HORIZON,
            damping=DAMPING,
            diffuse_variance=DIFFUSE_VARIANCE,
            burn=LOGLIKELIHOOD_BURN,
        )
    return widenings(errors, level=level)


def calibrated_sd(
    sd: float, steps: float, widening: dict[int, Widening], level: float = INTERVAL_LEVEL
) -> float:
    """The sd of the normal whose central ``level`` interval is the calibrated one:
    sd × factor × t quantile / normal quantile, at the whole horizon ⌈steps⌉ (at least 1; past
    the last calibrated horizon, the last one's)."""
    horizon = min(max(1, math.ceil(steps - 1e-9)), max(widening))
    w = widening[horizon]
    return sd * w.factor * w.quantile / _NORMAL.inv_cdf(0.5 + level / 2)


@dataclass(frozen=True)
class TrendForecast:
    """The trend's forecast of the value on ``on``, with its ``level`` interval.

    ``sd`` is the calibrated one (``calibrate``), whose ``level`` interval is (low, high);
    ``model_sd`` the model's own, its variances taken as known. ``path`` is the forecast week
    by week from the last value to ``on`` (date, mean, low, high), for the chart's fan. Without
    a forecast (``message`` says why) the numbers are None.
    """

    on: date
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    level: float
    points: int
    last_date: date | None
    path: tuple[tuple[date, float, float, float], ...] = ()
    variances: TrendVariances | None = None
    model: Model | None = None
    message: str = OK
    model_sd: float | None = None

    @property
    def ok(self) -> bool:
        return self.message == OK


def trend_forecast(
    points: Iterable[tuple[date, float]], *, on: date, level: float = INTERVAL_LEVEL
) -> TrendForecast:
    """Forecast the value on ``on`` from dated values: weekly series, local level or damped
    trend, interval calibrated by the series' own past errors."""
    series = weekly_series(points)
    fit = fit_trend(series.values)
    last = series.last_date
    if not fit.ok:
        return TrendForecast(
            on, None, None, None, None, level, fit.points, last, message=fit.message
        )
    assert last is not None
    if on < last:
        return TrendForecast(on, None, None, None, None, level, fit.points, last, message=NOT_AHEAD)
    steps = (on - last).days / STEP_DAYS
    widening = calibrate(series.values, level=level)
    mean, variance = forecast_moments(fit.state, fit.variances, steps, damping=fit.damping)
    model_sd = math.sqrt(variance)
    sd = calibrated_sd(model_sd, steps, widening, level)
    low, high = normal_interval(mean, sd, level)
    path = []
    week = 0
    while True:
        day = min(last + timedelta(days=STEP_DAYS * week), on)
        ahead = (day - last).days / STEP_DAYS
        m, v = forecast_moments(fit.state, fit.variances, ahead, damping=fit.damping)
        lo, hi = normal_interval(m, calibrated_sd(math.sqrt(v), ahead, widening, level), level)
        path.append((day, m, lo, hi))
        if day >= on:
            break
        week += 1
    return TrendForecast(
        on,
        mean,
        sd,
        low,
        high,
        level,
        fit.points,
        last,
        tuple(path),
        fit.variances,
        fit.model,
        model_sd=model_sd,
    )


# --- the odds -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Contribution:
    """A normal addition to the value at the end (e.g. a shipped experiment's effect)."""

    mean: float
    sd: float


def probability_of_reaching(
    *,
    mean: float,
    sd: float,
    target: float,
    direction: Direction,
    contributions: Sequence[Contribution] = (),
) -> float:
    """P(value at the end reaches ``target``): the trend N(mean, sd²) plus independent normal
    contributions, so N(mean + Σmᵢ, sd² + Σsdᵢ²); "reaches" is ≥ to increase, ≤ to decrease."""
    total = mean + sum(c.mean for c in contributions)
    variance = sd * sd + sum(c.sd * c.sd for c in contributions)
    if variance <= 0:
        reached = total >= target if direction == "increase" else total <= target
        return 1.0 if reached else 0.0
    below = _NORMAL.cdf((target - total) / math.sqrt(variance))
    return 1.0 - below if direction == "increase" else below


def outlook_status(probability: float) -> Status:
    """On track from ``ON_TRACK_PROBABILITY`` up, off track below ``OFF_TRACK_PROBABILITY``."""
    if probability >= ON_TRACK_PROBABILITY:
        return "on_track"
    if probability < OFF_TRACK_PROBABILITY:
        return "off_track"
    return "at_risk"


def cohort_share_after(
    *, ships_on: date, period_end: date, cohort_days: int, maturity_days: int
) -> float:
    """The share of the final measurement's cohort that starts on or after ``ships_on``.

    The value on the period's last day is the metric over the units that started in the
    ``cohort_days`` days ending ``maturity_days`` before the end of that day; a change shipped
    on ``ships_on`` reaches only the units starting from then.
    """
    window_end = period_end + timedelta(days=1) - timedelta(days=maturity_days)
    window_start = window_end - timedelta(days=cohort_days)
    reached = (window_end - max(ships_on, window_start)).days
    return min(max(reached / cohort_days, 0.0), 1.0)


# --- backtest -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BacktestPair:
    """One forecast of the backtest: made with the first ``origin`` weeks, ``horizon`` ahead;
    ``naive`` is the last value known at the origin (the forecast to beat)."""

    origin: int
    horizon: int
    forecast: float
    low: float
    high: float
    actual: float
    naive: float

    @property
    def error(self) -> float:
        return self.forecast - self.actual

    @property
    def covered(self) -> bool:
        return self.low <= self.actual <= self.high


@dataclass(frozen=True)
class BacktestSummary:
    """Errors over backtest pairs: mean absolute (series units), mean absolute percentage
    (share of the actual value), the share of actual values inside the interval, and the
    mean absolute error of the naive forecast (the last value known) beside them."""

    pairs: int
    mae: float | None
    mape: float | None
    coverage: float | None
    naive_mae: float | None
    level: float


def summarise(pairs: Sequence[BacktestPair], level: float = INTERVAL_LEVEL) -> BacktestSummary:
    if not pairs:
        return BacktestSummary(0, None, None, None, None, level)
    relative = [abs(p.error) / abs(p.actual) for p in pairs if p.actual != 0]
    return BacktestSummary(
        pairs=len(pairs),
        mae=sum(abs(p.error) for p in pairs) / len(pairs),
        mape=sum(relative) / len(relative) if relative else None,
        coverage=sum(p.covered for p in pairs) / len(pairs),
        naive_mae=sum(abs(p.naive - p.actual) for p in pairs) / len(pairs),
        level=level,
    )


def backtest(
    values: Sequence[float | None],
    *,
    min_points: int = MIN_POINTS,
    max_horizon: int = 13,
    level: float = INTERVAL_LEVEL,
    model: Model | None = None,
    calibrated: bool = True,
) -> list[BacktestPair]:
    """Rolling-origin backtest of the forecast (or of one ``model`` alone) on a weekly series.

    For every origin k (a prefix with at least ``min_points`` values), fit on values[:k] and
    forecast each later observed week up to ``max_horizon`` weeks ahead, the interval
    calibrated on the prefix alone (``calibrated=False``: the model's own interval).
    """
    pairs: list[BacktestPair] = []
    for origin in range(1, len(values)):
        prefix = values[:origin]
        if sum(v is not None for v in prefix) < max(min_points, MIN_POINTS):
            continue
        fit = fit_trend(prefix) if model is None else fit_model(prefix, model=model)
        if not fit.ok:
            continue
        naive = next(v for v in reversed(prefix) if v is not None)
        widening = calibrate(prefix, level=level) if calibrated else None
        for ahead in range(origin, min(len(values), origin + max_horizon)):
            actual = values[ahead]
            if actual is None:
                continue
            horizon = ahead - origin + 1
            mean, variance = forecast_moments(
                fit.state, fit.variances, horizon, damping=fit.damping
            )
            sd = math.sqrt(variance)
            if widening is not None:
                sd = calibrated_sd(sd, horizon, widening, level)
            low, high = normal_interval(mean, sd, level)
            pairs.append(BacktestPair(origin, horizon, mean, low, high, actual, naive))
    return pairs


def projected_contribution(
    *,
    level: float,
    lift: float,
    lift_sd: float,
    reach: float,
    cohort_share: float,
    treated_share: float,
) -> Contribution:
    """What a relative lift adds to the value at the end once shipped, in the value's units.

    level × lift × reach × cohort share × (1 − treated share): the lift applies to the share of
    the final cohort it reaches (``reach`` of its units, those starting after it ships), less
    the share already treated during the test, whose effect the trend has seen. ``level`` is
    the trend's forecast: its own uncertainty is left out of the product (a second-order term,
    see the tests' simulation).
    """
    factor = level * reach * cohort_share * (1 - treated_share)
    return Contribution(mean=factor * lift, sd=abs(factor) * lift_sd)
