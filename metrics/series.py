"""KPI-style series of a metric: the value for each daily or weekly signup cohort.

The database returns sufficient statistics per 15-minute bucket of the units' start times;
buckets are then mapped to calendar days in the workspace's time zone, so days are local,
exact across daylight-saving changes (every real UTC offset is a multiple of 15 minutes) and
only one row per bucket travels to Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from metrics.engine.definition import MetricDefinition
from metrics.engine.populations import FirstSeenPopulation
from metrics.models import Metric
from metrics.runner import MetricStatistics, compute_metric_statistics
from metrics.services import metric_definition
from plg_platform.clock import epoch_us
from plg_platform.errors import ValidationFailed

BUCKET_US = 15 * 60 * 1_000_000
MAX_SERIES_DAYS = 731
Z_95 = 1.959963984540054

Interval = Literal["day", "week"]
RANGE_REVERSED = "'from' must be on or before 'to'."
RANGE_TOO_LONG = "A series covers at most {days} days."
# A quantile does not add up across cohorts, so each period is a statement of its own.
MAX_QUANTILE_PERIODS = 62
QUANTILE_PERIODS = (
    "A quantile metric's series has at most {max} periods (one statement each); "
    "shorten the range or use weekly periods."
)


@dataclass(frozen=True)
class SeriesStep:
    """A funnel's step in one cohort: matured units that reached it (in order, within the
    window), the conversion from the step before (the first: from every matured unit) and
    from every matured unit."""

    name: str
    event: str
    units: int
    conversion: float | None
    overall: float | None


@dataclass(frozen=True)
class SeriesPoint:
    """One cohort's value with its 95% interval (normal approximation) and unit counts;
    a funnel's cohort also has its ``steps`` (the value is the whole funnel's conversion)."""

    period_start: date
    units: int
    immature_units: int
    n: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    steps: tuple[SeriesStep, ...] = ()


def _steps(definition: MetricDefinition, units: int, parts: list[MetricStatistics]):
    """The funnel's steps in one cohort, from the statistics of its buckets."""
    out = []
    before = units
    for k, step in enumerate(definition.steps):
        reached = sum(p.steps[k] for p in parts if p.steps)
        out.append(
            SeriesStep(
                name=step.label,
                event=step.event,
                units=reached,
                conversion=reached / before if before else None,
                overall=reached / units if units else None,
            )
        )
        before = reached
    return tuple(out)


def _period_start(day: date, interval: Interval) -> date:
    return day - timedelta(days=day.weekday()) if interval == "week" else day


def _point(
    period: date, parts: list[MetricStatistics], definition: MetricDefinition
) -> SeriesPoint:
    ratio = definition.is_ratio
    n = sum(p.n for p in parts)
    sx = sum(p.sum for p in parts)
    sxx = sum(p.sum_squares for p in parts)
    value = low = high = None
    if ratio:
        sy = sum(p.denominator_sum or 0.0 for p in parts)
        syy = sum(p.denominator_sum_squares or 0.0 for p in parts)
        sxy = sum(p.sum_product or 0.0 for p in parts)
        if sy > 0 and n > 1:
            value = sx / sy
            mx, my = sx / n, sy / n
            vx, vy = (sxx - n * mx * mx) / (n - 1), (syy - n * my * my) / (n - 1)
            cxy = (sxy - n * mx * my) / (n - 1)
            # Delta method: Var(x̄/ȳ) ≈ (vx − 2r·cxy + r²·vy) / (n·ȳ²).
            variance = max((vx - 2 * value * cxy + value * value * vy) / (n * my * my), 0.0)
            half = Z_95 * math.sqrt(variance)
            low, high = value - half, value + half
    elif n > 0:
        value = sx / n
        if n > 1:
            variance = max((sxx - n * value * value) / (n - 1), 0.0)
            half = Z_95 * math.sqrt(variance / n)
            low, high = value - half, value + half
    units = sum(p.units for p in parts)
    return SeriesPoint(
        period_start=period,
        units=units,
        immature_units=sum(p.immature_units for p in parts),
        n=n,
        value=value,
        ci_low=low,
        ci_high=high,
        steps=_steps(definition, units, parts),
    )


def metric_series(
    *,
    metric: Metric,
    date_from: date,
    date_to: date,
    interval: Interval = "day",
    start_event: str = "",
    now: datetime | None = None,
) -> list[SeriesPoint]:
    """Return the metric for each cohort of units that started in [date_from, date_to].

    A unit starts at its first ``start_event`` (its first event of any kind if empty). Units
    whose window has not passed yet are counted in ``immature_units``, never in the value.
    """
    if date_from > date_to:
        raise ValidationFailed(RANGE_REVERSED, field="from")
    if (date_to - date_from).days > MAX_SERIES_DAYS:
        raise ValidationFailed(RANGE_TOO_LONG.format(days=MAX_SERIES_DAYS), field="to")
    zone = ZoneInfo(metric.workspace.timezone)
    start = datetime.combine(date_from, time.min, tzinfo=zone)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    cutoff = now or datetime.now(tz=UTC)
    if metric.type == "quantile":
        return _quantile_series(
            metric=metric,
            date_from=date_from,
            date_to=date_to,
            interval=interval,
            start_event=start_event,
            cutoff=cutoff,
        )
    definition = metric_definition(metric)
    stats = compute_metric_statistics(
        workspace_id=metric.workspace_id,
        metrics=[definition],
        population=FirstSeenPopulation(
            event=start_event,
            starts_from_us=epoch_us(start),
            starts_before_us=epoch_us(end),
            bucket_us=BUCKET_US,
        ),
        cutoff_us=epoch_us(cutoff),
    )
    by_period: dict[date, list[MetricStatistics]] = defaultdict(list)
    for row in stats:
        bucket_start = datetime.fromtimestamp(int(row.group) * BUCKET_US / 1e6, tz=UTC)
        local_day = bucket_start.astimezone(zone).date()
        by_period[_period_start(local_day, interval)].append(row)
    periods = []
    day = _period_start(date_from, interval)
    step = timedelta(days=7 if interval == "week" else 1)
    while day <= date_to:
        periods.append(_point(day, by_period.get(day, []), definition))
        day += step
    return periods


def _quantile_series(
    *,
    metric: Metric,
    date_from: date,
    date_to: date,
    interval: Interval,
    start_event: str,
    cutoff: datetime,
) -> list[SeriesPoint]:
    """One statement per period (its local days within [date_from, date_to]); the interval is
    the quantile's order-statistic band (``QuantileSummary.interval``)."""
    zone = ZoneInfo(metric.workspace.timezone)
    step = timedelta(days=7 if interval == "week" else 1)
    starts = []
    day = _period_start(date_from, interval)
    while day <= date_to:
        starts.append(day)
        day += step
    if len(starts) > MAX_QUANTILE_PERIODS:
        raise ValidationFailed(QUANTILE_PERIODS.format(max=MAX_QUANTILE_PERIODS), field="from")
    definition = metric_definition(metric)
    points = []
    for period in starts:
        first = max(period, date_from)
        last = min(period + step - timedelta(days=1), date_to)
        rows = compute_metric_statistics(
            workspace_id=metric.workspace_id,
            metrics=[definition],
            population=FirstSeenPopulation(
                event=start_event,
                starts_from_us=epoch_us(datetime.combine(first, time.min, tzinfo=zone)),
                starts_before_us=epoch_us(
                    datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
                ),
            ),
            cutoff_us=epoch_us(cutoff),
        )
        row = rows[0] if rows else None
        summary = row.quantile if row is not None else None
        low, high = summary.interval() if summary is not None else (None, None)
        points.append(
            SeriesPoint(
                period_start=period,
                units=row.units if row else 0,
                immature_units=row.immature_units if row else 0,
                n=row.n if row else 0,
                value=row.value if row else None,
                ci_low=low,
                ci_high=high,
            )
        )
    return points
