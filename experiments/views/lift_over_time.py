"""The "lift over time" chart and table of a metric: the cumulative lift by day of first
exposure (``AnalysisOutputs.cumulative``), with the units first exposed each day as bars.

A Chart.js configuration (the page's chart library, served locally); values are in percent
(or percentage points) so the axes read without a tick callback, which JSON cannot hold. The
lift axis is clipped to the later days' intervals (``axis_range``); the table gives every
interval in full.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from experiments.contracts import CumulativePoint

PALETTE = ("#2557d6", "#b45309", "#7c3aed", "#0f766e")
EXPOSURE_BARS = "#94a3b8"


@dataclass(frozen=True)
class DayRow:
    """One line of the lift-over-time table, formatted."""

    day: str
    variant: str
    lift: str
    interval: str
    units_exposed: int
    units_matured: int
    exposed_on_day: int


def _scaled(values: list[float | None], scale: float) -> list[float | None]:
    return [None if v is None or not math.isfinite(v) else round(v * scale, 4) for v in values]


def _finite(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def axis_range(points: list[CumulativePoint], scale: float) -> dict[str, float]:
    """The lift axis's bounds: every cumulative lift, zero, and the intervals of the later half
    of the days. The first days' intervals are often many times wider (a handful of units);
    scaled to them, the line would look flat. Returns {} when nothing needs clipping."""
    days = list(dict.fromkeys(p.day for p in points))
    late = set(days[len(days) // 2 :])
    kept = _finite([p.effect for p in points]) + [0.0]
    kept += _finite([v for p in points if p.day in late for v in (p.ci_low, p.ci_high)])
    everything = kept + _finite([v for p in points for v in (p.ci_low, p.ci_high)])
    lo, hi = min(kept), max(kept)
    if min(everything) >= lo and max(everything) <= hi:
        return {}
    pad = (hi - lo) * 0.1 or 0.01
    return {"min": round((lo - pad) * scale, 4), "max": round((hi + pad) * scale, 4)}


def cumulative_chart(
    points: list[CumulativePoint], names: dict[str, str], *, percent: bool, unit: str
) -> str:
    """Cumulative lift per treatment variant (line, interval as a band) and units first
    exposed per day (bars, right axis)."""
    if not points:
        return ""
    scale = 100 if percent else 1
    days = list(dict.fromkeys(p.day for p in points))
    variants = list(dict.fromkeys(p.variant for p in points))
    datasets: list[dict[str, Any]] = []
    for i, variant in enumerate(variants):
        series = {p.day: p for p in points if p.variant == variant}
        label = names.get(variant, variant)
        colour = PALETTE[i % len(PALETTE)]

        def values(attr: str, series: dict[str, CumulativePoint] = series) -> list[float | None]:
            return _scaled([getattr(series[d], attr) if d in series else None for d in days], scale)

        datasets += [
            {
                "label": f"{label}: interval low",
                "data": values("ci_low"),
                "borderColor": "rgba(0,0,0,0)",
                "pointRadius": 0,
                "fill": False,
                "yAxisID": "y",
            },
            {
                "label": f"{label}: interval high",
                "data": values("ci_high"),
                "borderColor": "rgba(0,0,0,0)",
                "backgroundColor": colour + "22",
                "pointRadius": 0,
                "fill": "-1",
                "yAxisID": "y",
            },
            {
                "label": f"{label}: cumulative lift",
                "data": values("effect"),
                "borderColor": colour,
                "backgroundColor": colour,
                "pointRadius": 2,
                "fill": False,
                "yAxisID": "y",
            },
        ]
    first = variants[0]
    exposed = {p.day: p.exposed_on_day for p in points if p.variant == first}
    datasets.append(
        {
            "type": "bar",
            "label": "Units first exposed that day",
            "data": [exposed.get(d, 0) for d in days],
            "backgroundColor": EXPOSURE_BARS + "66",
            "yAxisID": "y1",
            "order": 10,
        }
    )
    return json.dumps(
        {
            "type": "line",
            "data": {"labels": days, "datasets": datasets},
            "options": {
                "responsive": True,
                "maintainAspectRatio": False,
                "animation": False,
                "plugins": {"legend": {"display": False}},
                "scales": {
                    "x": {"title": {"display": True, "text": "Day of first exposure"}},
                    "y": {
                        **axis_range(points, scale),
                        "title": {
                            "display": True,
                            "text": f"Cumulative lift ({unit})".replace(" ()", ""),
                        },
                    },
                    "y1": {
                        "position": "right",
                        "beginAtZero": True,
                        "grid": {"drawOnChartArea": False},
                        "title": {"display": True, "text": "Units exposed per day"},
                    },
                },
            },
        }
    )


def cumulative_rows(
    points: list[CumulativePoint], names: dict[str, str], fmt_effect: Any
) -> tuple[DayRow, ...]:
    """The chart's numbers as table rows; ``fmt_effect(value, bound=...)`` formats a lift."""
    return tuple(
        DayRow(
            day=p.day,
            variant=names.get(p.variant, p.variant),
            lift=fmt_effect(p.effect) if p.effect is not None else "—",
            interval=(
                f"{fmt_effect(p.ci_low, bound='low')} to {fmt_effect(p.ci_high, bound='high')}"
                if p.effect is not None
                else "—"
            ),
            units_exposed=p.units_exposed,
            units_matured=p.units_matured,
            exposed_on_day=p.exposed_on_day,
        )
        for p in points
    )
