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
    AnalysedMetric,
    AnalysisInputs,
    AnalysisPlan,
    StatisticsLookup,
)
from experiments.stats import SufficientStatistics

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
    return [
        Row(metric, breakdown.property, value)
        for breakdown in inputs.breakdowns
        for value in breakdown.values
        for metric in plan.metrics
    ]


def _field(s: object | None, name: str) -> float:
    value = getattr(s, name) if s is not None else None
    return float(value) if value is not None else 0.0


def statistics_arrays(
    plan: AnalysisPlan, lookup: StatisticsLookup, rows: Sequence[Row]
) -> tuple[SufficientStatistics, np.ndarray, np.ndarray]:
    """Return (statistics of shape (rows, variants), engine type per row, direction per row).

    Ratio and covariate sums are zero where a metric has none: the engine reads ratio sums only
    for ratio rows, and a covariate with no variance turns CUPED off for its row.
    """
    shape = (len(rows), len(plan.variants))
    arrays = {name: np.zeros(shape) for name in STATISTIC_NAMES}
    for i, row in enumerate(rows):
        for j, variant in enumerate(plan.variants):
            s = lookup.get((row.metric.key, row.segment_property, row.segment_value, variant))
            for name in STATISTIC_NAMES:
                arrays[name][i, j] = _field(s, name)
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
