"""A funnel metric on the results page: each step's units and conversion per variant, as a
table and as horizontal bars (the share of all matured units reaching each step).

The whole funnel's comparison (effect, interval, p-value or chance to win) is the metric's
usual table above it; these are the steps behind that number, described, not tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from experiments.contracts import MetricResult

PALETTE = ("#4f5b6d", "#2557d6", "#b45309", "#7c3aed", "#0f766e")


@dataclass(frozen=True)
class FunnelCell:
    """One variant at one step: units reaching it and its conversions, formatted."""

    units: int
    conversion: str  # from the step before
    overall: str  # from every matured unit


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
            cells=tuple(
                FunnelCell(
                    units=v.steps[k].units,
                    conversion=_percent(v.steps[k].conversion),
                    overall=_percent(v.steps[k].overall),
                )
                for v in variants
            ),
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
