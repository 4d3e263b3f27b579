"""The OKR board's presentation: objectives with their key results (progress, the forecast's
status and why, the latest check-in) and initiatives, nested under their parents, for one
period; and a key result's forecast chart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from metrics.public import Metric
from outcomes.okrs.contracts import LinkedExperiment
from outcomes.okrs.models import Initiative, KeyResult, Objective
from outcomes.okrs.outlook import KeyResultOutlook, key_result_outlook, percent_words
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
    status: str  # the forecast's while there is one, else the pace rule's
    status_label: str
    status_symbol: str
    trend: str | None  # the sparkline's JSON, None without two values
    trend_rows: list[tuple[date, str]]
    initiatives: list[Initiative] = field(default_factory=list)
    experiments: list[LinkedExperiment] = field(default_factory=list)
    outlook: KeyResultOutlook | None = None
    probability: str = ""  # "64%" when forecast
    why: str = ""

    @property
    def forecast_status(self) -> bool:
        """Whether the status is the forecast's (else it follows the pace rule)."""
        return self.outlook is not None and self.outlook.ok


def _percent(value: float) -> int:
    return round(min(max(value, 0.0), 1.0) * 100)


def key_result_view(
    summary: KeyResultSummary,
    *,
    initiatives: list[Initiative] | None = None,
    experiments: list[LinkedExperiment] | None = None,
    outlook: KeyResultOutlook | None = None,
) -> KeyResultView:
    """Write out a key result for the page; with an outlook that has odds, its status is the
    forecast's (``outcomes.okrs.outlook``), else the pace rule's (``summary.status``)."""
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
    status = summary.status
    if outlook is not None and outlook.status is not None:
        status = outlook.status
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
        status=status,
        status_label=STATUS_LABELS[status],
        status_symbol=STATUS_SYMBOLS[status],
        trend=trend,
        trend_rows=[(d, format_value(v, unit)) for d, v in points],
        initiatives=initiatives or [],
        experiments=experiments or [],
        outlook=outlook,
        probability=percent_words(outlook.probability)
        if outlook is not None and outlook.probability is not None
        else "",
        why=outlook.why if outlook is not None else "",
    )


def outlook_chart(outlook: KeyResultOutlook) -> str | None:
    """The forecast chart's JSON: the weekly values, the forecast's mean and interval from the
    last value to the period's end, the target, and the end value with the experiments."""
    forecast = outlook.forecast
    if not forecast.ok or not forecast.path:
        return None
    observed = [(d, v) for d, v in zip(outlook.series.dates, outlook.series.values, strict=True)]
    days = [d for d, _ in observed] + [d for d, *_ in forecast.path[1:]]
    last = len(observed) - 1
    blank: list[float | None] = [None] * last
    return chart_json(
        {
            "labels": [d.isoformat() for d in days],
            "values": series_points(
                [v for _, v in observed] + [None] * (len(days) - len(observed))
            ),
            "mean": series_points(blank + [m for _, m, _, _ in forecast.path]),
            "low": series_points(blank + [lo for _, _, lo, _ in forecast.path]),
            "high": series_points(blank + [hi for _, _, _, hi in forecast.path]),
            "with_experiments": series_points(
                [None] * (len(days) - 1) + [outlook.expected]
                if outlook.contributions and outlook.added_mean
                else []
            ),
            "target": outlook.target,
            "level": round(forecast.level * 100),
            "unit": outlook.unit,
        }
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


_STATUS_ORDER = ("off_track", "at_risk", "on_track", "no_data")


def worst_status(statuses: list[str]) -> str:
    """An objective's status: its worst key result's, ignoring those without data."""
    return min((s for s in statuses if s != "no_data"), key=_STATUS_ORDER.index, default="no_data")


def board_objectives(
    nodes: list[ObjectiveNode],
    start: date,
    end: date,
    initiatives: dict[int, list[Initiative]],
    parent: Objective | None = None,
    today: date | None = None,
) -> list[ObjectiveView]:
    """The objectives of [start, end] as a tree; a sub-objective whose parent belongs to
    another period is shown at the top, saying what it is aligned to. Each key result has its
    outlook (forecast, odds, why) as of ``today``."""
    views: list[ObjectiveView] = []
    for node in nodes:
        objective = node.objective
        if not _overlaps(objective, start, end):
            views += board_objectives(
                node.children, start, end, initiatives, parent=objective, today=today
            )
            continue
        key_results = [
            key_result_view(
                summary,
                initiatives=initiatives.get(summary.key_result.pk, []),
                experiments=key_result_experiments(key_result=summary.key_result),
                outlook=key_result_outlook(key_result=summary.key_result, today=today),
            )
            for summary in node.key_results
        ]
        status = worst_status([kr.status for kr in key_results])
        views.append(
            ObjectiveView(
                objective=objective,
                status=status,
                status_label=STATUS_LABELS[status],
                status_symbol=STATUS_SYMBOLS[status],
                key_results=key_results,
                children=board_objectives(node.children, start, end, initiatives, today=today),
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
