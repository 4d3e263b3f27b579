"""Will we hit the key result? Its forecast at the period's end, what the running experiments
linked to it would add if shipped, the chance of reaching the target, and why, in words.

The math is in ``outcomes.okrs.forecasting`` (no Django); the experiments' contributions come
from the providers a higher layer registers (``outcomes.okrs.contracts``). The status is the
forecast's while the period runs and there is enough history (``forecasting.MIN_POINTS``
weekly values); otherwise ``status`` is None and the page keeps the pace rule of
``outcomes.okrs.progress``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from metrics.public import Direction, metric_definition
from outcomes.okrs.contracts import ExpectedContribution, contributions_providers
from outcomes.okrs.forecasting import (
    INTERVAL_LEVEL,
    BacktestSummary,
    Contribution,
    Status,
    TrendForecast,
    WeeklySeries,
    backtest,
    cohort_share_after,
    outlook_status,
    probability_of_reaching,
    projected_contribution,
    summarise,
    trend_forecast,
    weekly_series,
)
from outcomes.okrs.forecasting import (
    Direction as ForecastDirection,
)
from outcomes.okrs.models import KeyResult, ValueSource
from outcomes.wording import STATUS_LABELS, format_value, metric_unit
from plg_platform.clock import local_today

PERIOD_ENDED = "The period has ended: its last value decides."
PERIOD_NOT_STARTED = "The period has not started: there is nothing to forecast from yet."
WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


@dataclass(frozen=True)
class ProjectedContribution:
    """An experiment's expected contribution, projected onto the key result's final value."""

    contribution: ExpectedContribution
    cohort_share: float  # of the final measurement's units, those starting after it ships
    mean: float  # in the key result's units
    sd: float

    @property
    def counted(self) -> bool:
        return self.contribution.would_ship


@dataclass(frozen=True)
class KeyResultOutlook:
    """Everything "will we hit it?" shows: None numbers and a ``message`` when not forecast."""

    on: date  # the period's last day
    target: float
    direction: str
    unit: str
    series: WeeklySeries  # the weekly values the forecast is made from
    forecast: TrendForecast
    contributions: tuple[ProjectedContribution, ...]
    added_mean: float  # Σ counted contributions
    added_sd: float
    expected: float | None  # trend + counted contributions
    probability: float | None
    status: Status | None
    why: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.probability is not None


def key_result_points(key_result: KeyResult, *, until: date) -> list[tuple[date, float]]:
    """One value per day up to ``until``: the computed check-in's, else a person's latest."""
    by_day: dict[date, tuple[bool, float]] = {}
    ordered = sorted(key_result.check_ins.all(), key=lambda c: (c.date, c.created_at, c.pk))
    for check_in in ordered:
        if check_in.value is None or check_in.date > until:
            continue
        computed = check_in.source == ValueSource.COMPUTED
        if computed or not by_day.get(check_in.date, (False, 0.0))[0]:
            by_day[check_in.date] = (computed, check_in.value)
    return [(day, value) for day, (_, value) in sorted(by_day.items())]


def _project(
    key_result: KeyResult, level: float, contribution: ExpectedContribution
) -> ProjectedContribution:
    share = cohort_share_after(
        ships_on=contribution.ships_on,
        period_end=key_result.objective.period_end,
        cohort_days=key_result.cohort_days,
        maturity_days=metric_definition(key_result.metric).maturity_days,
    )
    projected = projected_contribution(
        level=level,
        lift=contribution.shrunk_lift,
        lift_sd=contribution.shrunk_lift_sd,
        reach=contribution.reach,
        cohort_share=share,
        treated_share=contribution.treated_share,
    )
    return ProjectedContribution(contribution, share, projected.mean, projected.sd)


def key_result_contributions(*, key_result: KeyResult, today: date) -> list[ExpectedContribution]:
    """What the registered providers say the running experiments would add, as of ``today``."""
    return [c for provider in contributions_providers for c in provider(key_result, today)]


# --- words --------------------------------------------------------------------------------
def size_words(value: float | None, unit: str) -> str:
    """The size of a difference: 1.2 pp for a share, else the value in its unit; "—" if None."""
    if value is None:
        return "—"
    if unit == "share":
        return f"{abs(value) * 100:.1f} pp"
    return format_value(abs(value), unit)


def change_words(value: float, unit: str) -> str:
    """+1.2 pp for a share, else the value in its unit with a sign."""
    return f"{'+' if value >= 0 else '−'}{size_words(value, unit)}"


def percent_words(probability: float) -> str:
    if probability < 0.01:
        return "under 1%"
    if probability > 0.99:
        return "over 99%"
    return f"{probability * 100:.0f}%"


def _experiments_words(counted: list[ProjectedContribution], others: int, unit: str) -> str:
    parts = []
    if counted:
        n = len(counted)
        total = sum(c.mean for c in counted)
        count = WORDS.get(n, str(n))
        verb = "adds" if n == 1 else "add"
        parts.append(
            f"{count} running experiment{'s' if n > 1 else ''} {verb} about "
            f"{change_words(total, unit)} if shipped"
        )
    if others:
        count = WORDS.get(others, str(others))
        parts.append(
            f"{count} {'more ' if counted else ''}running experiment{'s' if others > 1 else ''} "
            f"would not be shipped as {'they stand' if others > 1 else 'it stands'}"
        )
    return "; ".join(parts)


def why_sentence(outlook: KeyResultOutlook) -> str:
    """E.g. "Trend alone reaches 31.0% by 31 Dec (80% interval 27.0%–35.0%); one running
    experiment adds about +1.2 pp if shipped; 64% chance to reach 33.0% — at risk."."""
    forecast = outlook.forecast
    assert forecast.mean is not None
    assert outlook.probability is not None
    assert outlook.status
    unit = outlook.unit
    counted = [c for c in outlook.contributions if c.counted]
    others = len(outlook.contributions) - len(counted)
    parts = [
        f"Trend alone reaches {format_value(forecast.mean, unit)} by "
        f"{outlook.on.day} {outlook.on:%b} ({forecast.level * 100:.0f}% interval "
        f"{format_value(forecast.low, unit)}–{format_value(forecast.high, unit)})"
    ]
    experiments = _experiments_words(counted, others, unit)
    if experiments:
        parts.append(experiments)
    parts.append(
        f"{percent_words(outlook.probability)} chance to reach "
        f"{format_value(outlook.target, unit)} — {STATUS_LABELS[outlook.status].lower()}."
    )
    return "; ".join(parts)


# --- the outlook --------------------------------------------------------------------------
def _without_forecast(
    key_result: KeyResult, series: WeeklySeries, forecast: TrendForecast, unit: str, message: str
) -> KeyResultOutlook:
    return KeyResultOutlook(
        on=key_result.objective.period_end,
        target=key_result.target,
        direction=key_result.direction,
        unit=unit,
        series=series,
        forecast=forecast,
        contributions=(),
        added_mean=0.0,
        added_sd=0.0,
        expected=None,
        probability=None,
        status=None,
        why="",
        message=message,
    )


def key_result_outlook(*, key_result: KeyResult, today: date | None = None) -> KeyResultOutlook:
    """Forecast the key result's value on its period's last day and the odds of the target.

    The trend is forecast from the key result's own weekly values; each running experiment's
    expected contribution (from the providers) is projected onto the final value; the odds
    combine both (``forecasting.probability_of_reaching``).
    """
    objective = key_result.objective
    today = today or local_today(key_result.workspace)
    unit = metric_unit(key_result.metric)
    end = objective.period_end
    points = key_result_points(key_result, until=today)
    series = weekly_series(points)
    forecast = trend_forecast(points, on=end)
    if today > end:
        return _without_forecast(key_result, series, forecast, unit, PERIOD_ENDED)
    if today < objective.period_start:
        return _without_forecast(key_result, series, forecast, unit, PERIOD_NOT_STARTED)
    if not forecast.ok:
        return _without_forecast(key_result, series, forecast, unit, forecast.message)
    assert forecast.mean is not None
    assert forecast.sd is not None
    projected = tuple(
        _project(key_result, forecast.mean, c)
        for c in key_result_contributions(key_result=key_result, today=today)
    )
    counted = [Contribution(p.mean, p.sd) for p in projected if p.counted]
    direction: ForecastDirection = (
        "decrease" if key_result.direction == Direction.DECREASE else "increase"
    )
    probability = probability_of_reaching(
        mean=forecast.mean,
        sd=forecast.sd,
        target=key_result.target,
        direction=direction,
        contributions=counted,
    )
    added_mean = sum(c.mean for c in counted)
    outlook = KeyResultOutlook(
        on=end,
        target=key_result.target,
        direction=direction,
        unit=unit,
        series=series,
        forecast=forecast,
        contributions=projected,
        added_mean=added_mean,
        added_sd=sum(c.sd**2 for c in counted) ** 0.5,
        expected=forecast.mean + added_mean,
        probability=probability,
        status=outlook_status(probability),
        why="",
    )
    return replace(outlook, why=why_sentence(outlook))


def key_result_backtest(*, key_result: KeyResult, today: date | None = None) -> BacktestSummary:
    """The rolling-origin backtest of the forecast on the key result's own weekly history."""
    today = today or local_today(key_result.workspace)
    series = weekly_series(key_result_points(key_result, until=today))
    return summarise(backtest(series.values), INTERVAL_LEVEL)
