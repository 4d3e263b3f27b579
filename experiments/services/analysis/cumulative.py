"""Lift over time: the cumulative lift by day of first exposure, from one analysis.

The first metric statement of an analysis also groups by each unit's day of first exposure
(``AnalysisInputs.daily``). Sufficient statistics are sums, so the statistics of the units
exposed up to day d are the running sums of the daily ones; the engine compares variants on
each day's running sums. No earlier snapshot is read and no history is re-run: every point uses
the data of this analysis's cut-off, and the last point is the headline result.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from experiments.contracts import CumulativePoint
from experiments.services.analysis.inputs import ADDITIVE, AnalysisInputs, AnalysisPlan
from experiments.services.analysis.outputs import analysis_outputs
from experiments.stats import AnalysisSettings
from metrics.public import MetricStatistics

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _add(a: MetricStatistics, b: MetricStatistics) -> MetricStatistics:
    changes: dict[str, Any] = {}
    for name in ADDITIVE:
        x, y = getattr(a, name), getattr(b, name)
        changes[name] = None if x is None and y is None else (x or 0) + (y or 0)
    return replace(a, **changes)


def cumulative_lift(
    *,
    plan: AnalysisPlan,
    inputs: AnalysisInputs,
    settings: AnalysisSettings,
    planned_mde: float | None,
) -> tuple[CumulativePoint, ...]:
    """One point per day of first exposure and metric × treatment variant, oldest first."""
    days = sorted({int(s.bucket) for s in inputs.daily})
    running: dict[tuple[str, str], MetricStatistics] = {}
    points: list[CumulativePoint] = []
    control = plan.variants[0] if plan.variants else ""
    for day in days:
        today = [s for s in inputs.daily if int(s.bucket) == day]
        for s in today:
            key = (s.metric, s.group)
            running[key] = _add(running[key], s) if key in running else s
        outputs = analysis_outputs(
            plan=plan,
            inputs=AnalysisInputs(overall=tuple(running.values()), breakdowns=()),
            settings=settings,
            planned_mde=planned_mde,
        )
        date = (EPOCH + timedelta(days=day)).date().isoformat()
        for metric in outputs.metrics:
            if metric.type == "quantile":
                continue  # a quantile does not add up over days: no lift by day
            for c in metric.comparisons:
                pair = (control, c.variant)
                cumulated = [running[(metric.key, v)] for v in pair if (metric.key, v) in running]
                on_day = [s for s in today if s.metric == metric.key and s.group in pair]
                points.append(
                    CumulativePoint(
                        metric=metric.key,
                        variant=c.variant,
                        day=date,
                        units_exposed=sum(s.units + s.immature_units for s in cumulated),
                        units_matured=sum(s.units for s in cumulated),
                        exposed_on_day=sum(s.units + s.immature_units for s in on_day),
                        effect=c.effect if c.ok else None,
                        ci_low=c.ci_low if c.ok else None,
                        ci_high=c.ci_high if c.ok else None,
                        ci_level=c.ci_level if c.ok else None,
                        significant=c.significant,
                    )
                )
    return tuple(points)
