"""The OKR board's presentation: objectives with their key results (progress, status, the
latest check-in) and initiatives, nested under their parents, for one period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from metrics.public import Metric
from outcomes.okrs.contracts import LinkedExperiment
from outcomes.okrs.models import Initiative, KeyResult, Objective
from outcomes.okrs.selectors import (
    KeyResultSummary,
    ObjectiveNode,
    initiatives_list,
    key_result_experiments,
)
from outcomes.presentation import (
    STATUS_LABELS,
    STATUS_SYMBOLS,
    chart_json,
    format_value,
    metric_unit,
    series_points,
)
from plg_platform.models import Workspace


# --- what a key result shows ----------------------------------------------------------------
@dataclass(frozen=True)
class KeyResultView:
    """A key result with its numbers written out for the page."""

    summary: KeyResultSummary
    key_result: KeyResult
    metric: Metric
    unit: str
    baseline: str
    current: str
    target: str
    progress: str  # "42%" or "—"
    bar_percent: int  # the bar's width, 0–100
    pace_percent: int  # share of the period elapsed, 0–100
    status: str
    status_label: str
    status_symbol: str
    trend: str | None  # the sparkline's JSON, None without two values
    trend_rows: list[tuple[date, str]]
    initiatives: list[Initiative] = field(default_factory=list)
    experiments: list[LinkedExperiment] = field(default_factory=list)


def _percent(value: float) -> int:
    return round(min(max(value, 0.0), 1.0) * 100)


def key_result_view(
    summary: KeyResultSummary,
    *,
    initiatives: list[Initiative] | None = None,
    experiments: list[LinkedExperiment] | None = None,
) -> KeyResultView:
    key_result = summary.key_result
    metric = key_result.metric
    unit = metric_unit(metric)
    points = [
        (c.date, c.value)
        for c in sorted(key_result.check_ins.all(), key=lambda c: (c.date, c.created_at, c.pk))
        if c.value is not None
    ]
    trend = None
    if len(points) >= 2:
        trend = chart_json(
            {
                "labels": [d.isoformat() for d, _ in points],
                "values": series_points(v for _, v in points),
                "baseline": summary.baseline,
                "target": summary.target,
                "unit": unit,
            }
        )
    progress = summary.progress
    return KeyResultView(
        summary=summary,
        key_result=key_result,
        metric=metric,
        unit=unit,
        baseline=format_value(summary.baseline, unit),
        current=format_value(summary.current, unit),
        target=format_value(summary.target, unit),
        progress="—" if progress is None else f"{progress * 100:.0f}%",
        bar_percent=0 if progress is None else _percent(progress),
        pace_percent=_percent(summary.time_elapsed),
        status=summary.status,
        status_label=STATUS_LABELS[summary.status],
        status_symbol=STATUS_SYMBOLS[summary.status],
        trend=trend,
        trend_rows=[(d, format_value(v, unit)) for d, v in points],
        initiatives=initiatives or [],
        experiments=experiments or [],
    )


# --- the board ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectiveView:
    objective: Objective
    status: str
    status_label: str
    status_symbol: str
    key_results: list[KeyResultView]
    children: list[ObjectiveView]
    aligned_to: Objective | None  # a parent outside this quarter's board


def _overlaps(objective: Objective, start: date, end: date) -> bool:
    return objective.period_start <= end and objective.period_end >= start


def board_objectives(
    nodes: list[ObjectiveNode],
    start: date,
    end: date,
    initiatives: dict[int, list[Initiative]],
    parent: Objective | None = None,
) -> list[ObjectiveView]:
    """The objectives of [start, end] as a tree; a sub-objective whose parent belongs to
    another period is shown at the top, saying what it is aligned to."""
    views: list[ObjectiveView] = []
    for node in nodes:
        objective = node.objective
        if not _overlaps(objective, start, end):
            views += board_objectives(node.children, start, end, initiatives, parent=objective)
            continue
        views.append(
            ObjectiveView(
                objective=objective,
                status=node.status,
                status_label=STATUS_LABELS[node.status],
                status_symbol=STATUS_SYMBOLS[node.status],
                key_results=[
                    key_result_view(
                        summary,
                        initiatives=initiatives.get(summary.key_result.pk, []),
                        experiments=key_result_experiments(key_result=summary.key_result),
                    )
                    for summary in node.key_results
                ],
                children=board_objectives(node.children, start, end, initiatives),
                aligned_to=parent or (objective.parent if objective.parent_id else None),
            )
        )
    return views


def walk_objectives(views: list[ObjectiveView]):
    for view in views:
        yield view
        yield from walk_objectives(view.children)


def initiatives_by_key_result(workspace: Workspace) -> dict[int, list[Initiative]]:
    by_key_result: dict[int, list[Initiative]] = defaultdict(list)
    for initiative in initiatives_list(workspace=workspace):
        for key_result in initiative.key_results.all():
            by_key_result[key_result.pk].append(initiative)
    return by_key_result
