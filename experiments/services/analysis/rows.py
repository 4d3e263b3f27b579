"""The rows of an analysis and their sufficient statistics as the engine's arrays.

A row is a metric overall, or a metric in one value of a segment property; the engine takes
one array of shape (rows, variants) per statistic. Outputs and the guardrail health check both
build their rows here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from experiments.contracts import SegmentRef
from experiments.services.analysis.inputs import (
    OTHER_SEGMENT,
    AnalysedMetric,
    AnalysisInputs,
    AnalysisPlan,
    StatisticsLookup,
)
from experiments.stats import QuantileArms, SufficientStatistics, quantile_sufficient_statistics
from experiments.stats.sufficient_statistics import StatusArray

STATISTIC_NAMES = (
    "n",
    "sum",
    "sum_squares",
    "denominator_sum",
    "denominator_sum_squares",
    "sum_product",
    "covariate_sum",
    "covariate_sum_squares",
    "covariate_sum_product",
)


@dataclass(frozen=True)
class Row:
    """One line of results: a metric overall, or in one segment of a breakdown."""

    metric: AnalysedMetric
    segment_property: str | None = None
    segment_value: str | None = None

    @property
    def segment(self) -> SegmentRef | None:
        if self.segment_property is None:
            return None
        return SegmentRef(property=self.segment_property, value=str(self.segment_value))


def overall_rows(plan: AnalysisPlan) -> list[Row]:
    return [Row(metric) for metric in plan.metrics]


def breakdown_rows(plan: AnalysisPlan, inputs: AnalysisInputs) -> list[Row]:
    """Every metric in every kept segment value; quantiles do not pool, so a quantile metric
    has no row for the pooled "(other)" value."""
    return [
        Row(metric, breakdown.property, value)
        for breakdown in inputs.breakdowns
        for value in breakdown.values
        for metric in plan.metrics
        if not (metric.type == "quantile" and value == OTHER_SEGMENT)
    ]


def _field(s: object | None, name: str) -> float:
    value = getattr(s, name) if s is not None else None
    return float(value) if value is not None else 0.0


def statistics_arrays(
    plan: AnalysisPlan, lookup: StatisticsLookup, rows: Sequence[Row]
) -> tuple[SufficientStatistics, np.ndarray, np.ndarray]:
    """Return (statistics of shape (rows, variants), engine type per row, direction per row).

    Ratio and covariate sums are zero where a metric has none: the engine reads ratio sums only
    for ratio rows, and a covariate with no variance turns CUPED off for its row. Quantile rows
    hold their quantiles as the engine's mean statistics (``quantile_sufficient_statistics``);
    ``arm_status`` has what the quantile guard refused.
    """
    shape = (len(rows), len(plan.variants))
    arrays = {name: np.zeros(shape) for name in STATISTIC_NAMES}
    for i, row in enumerate(rows):
        for j, variant in enumerate(plan.variants):
            s = lookup.get((row.metric.key, row.segment_property, row.segment_value, variant))
            for name in STATISTIC_NAMES:
                arrays[name][i, j] = _field(s, name)
    quantile_rows, pseudo, _ = quantile_parts(plan, lookup, rows)
    for name in ("n", "sum", "sum_squares"):
        arrays[name][quantile_rows] = getattr(pseudo, name)
    has_covariate = plan.covariate_days > 0
    statistics = SufficientStatistics(
        **{
            name: array
            for name, array in arrays.items()
            if has_covariate or not name.startswith("covariate")
        }
    )
    types = np.array([row.metric.engine_type for row in rows])
    directions = np.array([row.metric.higher_is_better for row in rows], dtype=bool)
    return statistics, types, directions


_SUMMARY_FIELDS = (
    "n",
    "estimate",
    "lower",
    "upper",
    "n_star",
    "clusters",
    "below_sum",
    "below_sum_squares",
    "count_sum",
    "count_sum_squares",
    "below_count_sum_product",
)


def quantile_parts(
    plan: AnalysisPlan, lookup: StatisticsLookup, rows: Sequence[Row]
) -> tuple[list[int], SufficientStatistics, StatusArray]:
    """(indexes of the quantile rows, their statistics as means, their arms' guard status),
    each of shape (quantile rows, variants); a variant without a summary has no values."""
    indexes = [i for i, row in enumerate(rows) if row.metric.type == "quantile"]
    shape = (len(indexes), len(plan.variants))
    values = {name: np.full(shape, np.nan) for name in _SUMMARY_FIELDS}
    values["n"][:] = 0.0
    levels = np.ones((len(indexes), 1)) * 0.5
    for r, i in enumerate(indexes):
        row = rows[i]
        levels[r, 0] = row.metric.definition.quantile or 0.5
        for j, variant in enumerate(plan.variants):
            s = lookup.get((row.metric.key, row.segment_property, row.segment_value, variant))
            summary = s.quantile if s is not None else None
            if summary is None:
                continue
            for name in _SUMMARY_FIELDS:
                value = getattr(summary, name)
                values[name][r, j] = np.nan if value is None else float(value)
    pseudo, status = quantile_sufficient_statistics(QuantileArms(level=levels, **values))
    return indexes, pseudo, status


def arm_status(plan: AnalysisPlan, lookup: StatisticsLookup, rows: Sequence[Row]) -> StatusArray:
    """Per (row, variant): the quantile guard's status ("ok" for every other metric)."""
    status = np.full((len(rows), len(plan.variants)), "ok", dtype="<U24")
    indexes, _, quantile_status = quantile_parts(plan, lookup, rows)
    status[indexes] = quantile_status
    return status
