"""A funnel metric on the results page: each step's units and conversion per variant, as a
table and as horizontal bars (the share of all matured units reaching each step).

The whole funnel's comparison (effect, interval, p-value or chance to win) is the metric's
usual table above it; these are the steps behind that number. Each treatment variant's cell
also gives the change of the step's conversion from the step before against the control, in
percentage points with its interval (Wald, not corrected for the number of steps:
experiments/stats/funnels.py), so a reader sees at which step the funnel moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from experiments.contracts import FunnelStepChange, FunnelStepResult, MetricResult

PALETTE = ("#4f5b6d", "#2557d6", "#b45309", "#7c3aed", "#0f766e")


@dataclass(frozen=True)
class FunnelCell:
    """One variant at one step: units reaching it and its conversions, formatted."""

    units: int
    conversion: str  # from the step before
    overall: str  # from every matured unit
    change: str = ""  # the conversion's change against the control, with its interval
    change_level: str = ""  # "95" for a 95% interval
    decisive: bool = False  # the interval excludes 0


@dataclass(frozen=True)
class FunnelRow:
    number: int
    name: str
    event: str
    cells: tuple[FunnelCell, ...]


@dataclass(frozen=True)
class FunnelView:
    variants: tuple[str, ...]  # people's names, in the results' order
    rows: tuple[FunnelRow, ...]
    chart: str  # JSON for <canvas data-chart="bars">
    chart_height: int


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}".replace("-", "−")


def _change(change: FunnelStepChange | None) -> tuple[str, str, bool]:
    """The change as "+8.1 pp (+3.9 to +12.3)", its level, and whether the interval excludes 0."""
    if change is None:
        return "", "", False
    if change.difference is None or change.ci_low is None or change.ci_high is None:
        return "—", "", False
    low, high = _points(change.ci_low), _points(change.ci_high)
    text = f"{_points(change.difference)} pp ({low} to {high})"
    level = f"{change.ci_level * 100:.1f}".removesuffix(".0")
    return text, level, change.ci_low > 0 or change.ci_high < 0


def _cell(step: FunnelStepResult) -> FunnelCell:
    change, level, decisive = _change(step.conversion_change)
    return FunnelCell(
        units=step.units,
        conversion=_percent(step.conversion),
        overall=_percent(step.overall),
        change=change,
        change_level=level,
        decisive=decisive,
    )


def funnel_view(metric: MetricResult, names: dict[str, str]) -> FunnelView | None:
    """The steps of a funnel metric by variant, or None for any other metric (or an old
    snapshot stored without steps)."""
    variants = [v for v in metric.variants if v.steps]
    if not variants:
        return None
    labels = tuple(names.get(v.variant, v.variant) for v in variants)
    steps = variants[0].steps
    rows = tuple(
        FunnelRow(
            number=k + 1,
            name=step.name,
            event=step.event,
            cells=tuple(_cell(v.steps[k]) for v in variants),
        )
        for k, step in enumerate(steps)
    )
    chart = json.dumps(
        {
            "labels": [f"{k + 1}. {step.name}" for k, step in enumerate(steps)],
            "series": [
                {
                    "label": label,
                    "values": [step.overall for step in v.steps],
                    "colour": PALETTE[i % len(PALETTE)],
                }
                for i, (label, v) in enumerate(zip(labels, variants, strict=True))
            ],
            "unit": "percent",
            "axis": "Share of units that reached the step",
            "max": 1,
        }
    )
    return FunnelView(
        variants=labels,
        rows=rows,
        chart=chart,
        chart_height=60 + len(steps) * (14 + 14 * len(variants)),
    )
