"""Where a key result stands: its metric's value from the metric layer, progress and status.

A key result's value on a day is its metric over the latest fully matured cohort: the units
(optionally of one segment) that started in the ``cohort_days`` days ending ``maturity`` days
before the moment of measurement, where maturity is the metric's window (a 7-day conversion
needs 7 days). Every unit of that cohort has matured, so the value never drifts as units age.
The baseline is the same measure at the first instant of the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from metrics.public import (
    Direction,
    FirstSeenPopulation,
    compute_metric_statistics,
    metric_definition,
)
from outcomes.okrs.models import KeyResult, Objective
from plg_platform.clock import DAY_US, epoch_us

Status = Literal["on_track", "at_risk", "off_track", "no_data"]
# Progress may trail the share of the period elapsed by this much and still be on track…
ON_TRACK_MAX_LAG = 0.10
# …and by this much to be at risk; further behind is off track.
AT_RISK_MAX_LAG = 0.25


@dataclass(frozen=True)
class Measurement:
    value: float | None
    units: int
    as_of: datetime


def period_start_instant(objective: Objective, zone: str) -> datetime:
    """Return the first instant of the objective's period, in the workspace's time zone."""
    return datetime.combine(objective.period_start, time.min, tzinfo=ZoneInfo(zone))


def end_of_day(day: date, zone: str) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZoneInfo(zone))


def key_result_measure(*, key_result: KeyResult, as_of: datetime) -> Measurement:
    """Return the key result's metric over its latest fully matured cohort at ``as_of``.

    One statement in the database; only the matching segment's sums come back.
    """
    definition = metric_definition(key_result.metric)
    cutoff = epoch_us(as_of)
    maturity = definition.maturity_days * DAY_US
    stats = compute_metric_statistics(
        workspace_id=key_result.workspace_id,
        metrics=[definition],
        population=FirstSeenPopulation(
            event=key_result.start_event,
            starts_from_us=cutoff - maturity - key_result.cohort_days * DAY_US,
            starts_before_us=cutoff - maturity,
            segment_property=key_result.segment_property,
        ),
        cutoff_us=cutoff,
    )
    wanted = key_result.segment_value if key_result.segment_property else "all"
    for row in stats:
        if row.segment == wanted:
            return Measurement(value=row.value, units=row.units, as_of=as_of)
    return Measurement(value=None, units=0, as_of=as_of)


def key_result_population_units(
    *, key_result: KeyResult, starts_from_us: int, starts_before_us: int
) -> int:
    """Return how many units of the key result's population (its start event and segment)
    started in [starts_from_us, starts_before_us), matured or not. One statement."""
    definition = metric_definition(key_result.metric)
    stats = compute_metric_statistics(
        workspace_id=key_result.workspace_id,
        metrics=[definition],
        population=FirstSeenPopulation(
            event=key_result.start_event,
            starts_from_us=starts_from_us,
            starts_before_us=starts_before_us,
            segment_property=key_result.segment_property,
        ),
        cutoff_us=starts_before_us,
    )
    wanted = key_result.segment_value if key_result.segment_property else "all"
    return sum(row.units + row.immature_units for row in stats if row.segment == wanted)


def progress(*, baseline: float | None, target: float, current: float | None) -> float | None:
    """Return (current − baseline) / (target − baseline): 0 at the baseline, 1 at the target.

    Works for both directions (a "decrease" key result has target < baseline); None when the
    baseline or the current value is unknown, or the target equals the baseline.
    """
    if baseline is None or current is None or target == baseline:
        return None
    return (current - baseline) / (target - baseline)


def time_elapsed(*, period_start: date, period_end: date, on: date) -> float:
    """Return the share of the period's days that have passed by the end of ``on`` (0 to 1)."""
    total = (period_end - period_start).days + 1
    passed = (on - period_start).days + 1
    return min(max(passed / total, 0.0), 1.0)


def status(*, progress_value: float | None, elapsed: float) -> Status:
    """Return on track / at risk / off track from progress against the time elapsed.

    The expected progress is linear in time: ``elapsed``. On track when progress lags it by at
    most ``ON_TRACK_MAX_LAG`` (or the target is reached), at risk up to ``AT_RISK_MAX_LAG``,
    off track beyond; ``no_data`` without a progress value.
    """
    if progress_value is None:
        return "no_data"
    if progress_value >= 1.0:
        return "on_track"
    lag = elapsed - progress_value
    if lag <= ON_TRACK_MAX_LAG:
        return "on_track"
    if lag <= AT_RISK_MAX_LAG:
        return "at_risk"
    return "off_track"


def target_direction_error(*, direction: str, baseline: float, target: float) -> str | None:
    """Return why ``target`` does not fit ``direction`` from ``baseline``, or None if it does."""
    if target == baseline:
        return f"The target equals the baseline ({baseline:g}): a key result must move its metric."
    if direction == Direction.INCREASE and target < baseline:
        return (
            f"The direction is 'increase', so the target must be above the baseline ({baseline:g})."
        )
    if direction == Direction.DECREASE and target > baseline:
        return (
            f"The direction is 'decrease', so the target must be below the baseline ({baseline:g})."
        )
    return None
