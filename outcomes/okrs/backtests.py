"""The forecast's backtest on a key result's past: its metric measured once a week over the
workspace's whole history (exactly as the daily check-ins measure it), then the rolling-origin
backtest of ``outcomes.okrs.forecasting`` on that series.

Only weeks whose whole cohort lies inside the data count: a measurement as of t covers units
that started in the ``cohort_days`` days ending ``maturity`` days before t, so the first one is
``maturity + cohort_days`` days after the first event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Max, Min

from metrics.public import metric_definition
from outcomes.okrs.forecasting import (
    STEP_DAYS,
    BacktestPair,
    BacktestSummary,
    backtest,
    summarise,
)
from outcomes.okrs.models import KeyResult
from outcomes.okrs.progress import key_result_measure
from plg_platform.clock import datetime_from_us
from plg_platform.models import Event, Workspace

HORIZONS_SHOWN = (1, 2, 4, 8, 13)


@dataclass(frozen=True)
class HistoryBacktest:
    """One key result's backtest: the weekly series and the errors, overall and by horizon."""

    key_result: KeyResult
    series: list[tuple[date, float | None]]
    pairs: list[BacktestPair]
    overall: BacktestSummary
    by_horizon: dict[int, BacktestSummary]
    damped_trend: BacktestSummary  # the damped trend alone, its own interval, to compare


def workspace_data_span(*, workspace: Workspace) -> tuple[datetime, datetime] | None:
    """The first and last event time of the workspace's stored events, or None without any."""
    found = Event.objects.filter(workspace=workspace).aggregate(
        first=Min("timestamp_us"), last=Max("timestamp_us")
    )
    if found["first"] is None:
        return None
    return datetime_from_us(found["first"]), datetime_from_us(found["last"])


def key_result_history(
    *, key_result: KeyResult, start: datetime, end: datetime
) -> list[tuple[date, float | None]]:
    """The key result's value once a week up to ``end``, back to the first full cohort after
    ``start`` (module docstring), oldest first; None for a week with no unit."""
    maturity = metric_definition(key_result.metric).maturity_days
    first = start + timedelta(days=maturity + key_result.cohort_days)
    moments = []
    moment = end
    while moment >= first:
        moments.append(moment)
        moment -= timedelta(days=STEP_DAYS)
    series = []
    for as_of in reversed(moments):
        measured = key_result_measure(key_result=key_result, as_of=as_of)
        series.append((as_of.astimezone(UTC).date(), measured.value))
    return series


def key_result_history_backtest(
    *, key_result: KeyResult, start: datetime, end: datetime, max_horizon: int = 13
) -> HistoryBacktest:
    """Measure the key result's weekly history and backtest the forecast on it."""
    series = key_result_history(key_result=key_result, start=start, end=end)
    values = [v for _, v in series]
    pairs = backtest(values, max_horizon=max_horizon)
    return HistoryBacktest(
        key_result=key_result,
        series=series,
        pairs=pairs,
        overall=summarise(pairs),
        by_horizon={
            h: summarise([p for p in pairs if p.horizon == h])
            for h in HORIZONS_SHOWN
            if h <= max_horizon
        },
        damped_trend=summarise(
            backtest(values, max_horizon=max_horizon, model="damped_trend", calibrated=False)
        ),
    )
