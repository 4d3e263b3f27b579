"""The results page's content, formatted: one block per metric (table rows, plain-language
verdicts, forest plot and lift-over-time chart) and one table per segment breakdown.

Numbers come from ``experiments.result_selectors.ExperimentResults`` and are formatted with
the engine's own formatting functions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from experiments.contracts import ComparisonResult, MetricResult
from experiments.result_selectors import ComparisonHistory, ExperimentResults
from experiments.stats.summaries import format_effect, format_p_value, format_probability
from experiments.views.funnel_blocks import FunnelView, funnel_view
from experiments.views.lift_over_time import DayRow, cumulative_chart, cumulative_rows

ROLE_TITLES = {
    "primary": "Primary metric",
    "secondary": "Secondary metric",
    "guardrail": "Guardrail",
}
ROLE_ORDER = ("primary", "secondary", "guardrail")
VERDICT_BADGES = {"win": "better", "loss": "worse", "flat": "no meaningful change"}


# --- Formatting -----------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def fmt_value(value: float | None, metric_type: str) -> str:
    """A variant's rate as a percentage with two decimals, anything else to four digits."""
    if _finite(value) is None:
        return "—"
    assert value is not None  # for the type checker: _finite said so
    return f"{value * 100:.2f}%" if metric_type == "proportion" else f"{value:,.4g}"


def fmt_effect(value: float | None, difference: str, metric_type: str, *, bound: str = "") -> str:
    """A lift as the engine writes it (+3.1%, −1.2 pp); an open bound as ±∞."""
    if _finite(value) is None:
        return {"low": "−∞", "high": "+∞"}.get(bound, "—")
    assert value is not None
    text = format_effect(value, difference, metric_type).replace(" percentage points", " pp")  # type: ignore[arg-type]
    return f"+{text}" if value > 0 and not bound else text


def _level(ci_level: float | None) -> str:
    """0.95 → "95", 0.98333 → "98.3"."""
    if ci_level is None:
        return ""
    return f"{ci_level * 100:.1f}".removesuffix(".0")


# --- What the templates show ----------------------------------------------------------------------


@dataclass(frozen=True)
class VariantRow:
    """One line of a metric's table, already formatted (``variant`` is the key, ``label``
    the name people gave it)."""

    variant: str
    label: str
    units: int
    immature_units: int
    value: str
    is_control: bool = False
    effect: str = "—"
    interval: str = "—"
    level: str = ""
    p_value: str = "—"
    chance_to_win: str = "—"
    risk: str = "—"
    verdict: str = ""
    tone: str = "neutral"
    message: str = ""
    level_note: str = ""  # which correction made the level, when it is not 1 − α
    level_by: str = ""  # the correction's short name, beside the level

    @property
    def control_badge(self) -> bool:
        """Whether to add a "control" badge (not when the name already says so)."""
        return self.is_control and "control" not in self.label.lower()


@dataclass(frozen=True)
class MetricBlock:
    """One metric of the snapshot: its table rows, plain-language verdicts and charts."""

    key: str
    name: str
    role: str
    role_title: str
    metric_type: str
    value_label: str  # the value column: "Conversion rate", "Mean", "p90"
    rows: tuple[VariantRow, ...]
    summaries: tuple[tuple[str, str], ...]  # (tone, sentence) per treatment variant
    forest: str  # JSON for <canvas data-chart="forest">
    forest_height: int
    history: str  # JSON Chart.js config, "" without history
    history_rows: tuple[tuple[str, str, str, str, int], ...]  # date, variant, lift, interval, units
    by_day: tuple[DayRow, ...] = ()  # cumulative lift by day of first exposure (new snapshots)
    funnel: FunnelView | None = None  # a funnel's steps by variant


@dataclass(frozen=True)
class SegmentTable:
    property: str
    values: tuple[str, ...]
    rows: tuple[tuple[str, str, VariantRow], ...]  # (value, metric name, treatment row)


def _tone(comparison: ComparisonResult) -> str:
    return {"win": "good", "loss": "bad"}.get(comparison.verdict, "neutral")


CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg"}
CORRECTION_SHORT = {"holm": "Holm", "bh": "BH"}
LEVEL_NOTE = "{correction}-adjusted: 1 − α·p/p̃ = 1 − {alpha:g} × {raw} / {adjusted}"


def correction_name(correction: str) -> str:
    return CORRECTION_NAMES.get(correction, correction)


def _level_note(c: ComparisonResult, correction: str, alpha: float) -> str:
    """Why this row's level is not 1 − α: the correction's per-comparison level α·p/p̃ (the
    interval that agrees with the adjusted p-value)."""
    if correction not in CORRECTION_NAMES or c.ci_level is None:
        return ""
    if c.p_value is None or c.p_value_unadjusted is None or abs(c.ci_level - (1 - alpha)) < 1e-9:
        return ""
    return LEVEL_NOTE.format(
        correction=correction_name(correction),
        alpha=alpha,
        raw=f"{c.p_value_unadjusted:.2g}",
        adjusted=f"{c.p_value:.2g}",
    )


def _rows(
    metric: MetricResult,
    difference: str,
    names: dict[str, str] | None = None,
    *,
    correction: str = "none",
    alpha: float = 0.05,
) -> tuple[VariantRow, ...]:
    metric_type = metric.metric_type
    comparisons = {c.variant: c for c in metric.comparisons}
    names = names or {}
    rows = []
    for variant in metric.variants:
        common: dict[str, Any] = {
            "variant": variant.variant,
            "label": names.get(variant.variant, variant.variant),
            "units": variant.units,
            "immature_units": variant.immature_units,
            "value": fmt_value(variant.value, metric_type),
        }
        c = comparisons.get(variant.variant)
        if c is None:
            rows.append(VariantRow(**common, is_control=True))
            continue
        rows.append(
            VariantRow(
                **common,
                effect=fmt_effect(c.effect, difference, metric_type) if c.ok else "—",
                interval=(
                    f"{fmt_effect(c.ci_low, difference, metric_type, bound='low')} to "
                    f"{fmt_effect(c.ci_high, difference, metric_type, bound='high')}"
                    if c.ok
                    else "—"
                ),
                level=_level(c.ci_level),
                p_value=format_p_value(c.p_value) if c.p_value is not None else "—",
                chance_to_win=(
                    format_probability(c.chance_to_win) if c.chance_to_win is not None else "—"
                ),
                risk=fmt_effect(c.risk, difference, metric_type, bound="risk"),
                verdict=VERDICT_BADGES.get(c.verdict, ""),
                tone=_tone(c),
                message=c.message,
                level_note=_level_note(c, correction, alpha),
                level_by=CORRECTION_SHORT.get(correction, "")
                if _level_note(c, correction, alpha)
                else "",
            )
        )
    return tuple(rows)


def _chart_unit(difference: str, metric_type: str) -> str:
    if difference == "relative":
        return "percent"
    return "points" if metric_type == "proportion" else "number"


def _forest(metric: MetricResult, difference: str, names: dict[str, str]) -> str:
    comparisons = metric.comparisons
    unit = _chart_unit(difference, metric.metric_type)
    axis = "Relative change vs control" if difference == "relative" else "Change vs control"
    return json.dumps(
        {
            "labels": [names.get(c.variant, c.variant) for c in comparisons],
            "effects": [_finite(c.effect) for c in comparisons],
            "lows": [_finite(c.ci_low) for c in comparisons],
            "highs": [_finite(c.ci_high) for c in comparisons],
            "tones": [_tone(c) for c in comparisons],
            "unit": unit,
            "axis": axis,
        }
    )


PALETTE = ("#2557d6", "#b45309", "#7c3aed", "#0f766e")


def _axis_unit(difference: str, metric_type: str) -> str:
    return "%" if difference == "relative" else ("pp" if metric_type == "proportion" else "")


def _history_chart(series: list[ComparisonHistory], difference: str, metric_type: str) -> str:
    """A Chart.js line chart of the lift at each data cut-off, with its interval as a band.

    Values are in percent (or percentage points) so the axis reads without a tick callback,
    which a JSON configuration cannot hold."""
    if not series:
        return ""
    scale = 1 if (difference != "relative" and metric_type != "proportion") else 100
    longest = max(series, key=lambda s: len(s.points))
    labels = [p.data_cutoff.strftime("%d %b %H:%M") for p in longest.points]
    datasets: list[dict[str, Any]] = []

    def scaled(values: list[float | None]) -> list[float | None]:
        return [None if v is None or not math.isfinite(v) else round(v * scale, 4) for v in values]

    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        datasets += [
            {
                "label": f"{s.variant}: interval low",
                "data": scaled([p.ci_low for p in s.points]),
                "borderColor": "rgba(0,0,0,0)",
                "pointRadius": 0,
                "fill": False,
            },
            {
                "label": f"{s.variant}: interval high",
                "data": scaled([p.ci_high for p in s.points]),
                "borderColor": "rgba(0,0,0,0)",
                "backgroundColor": colour + "22",
                "pointRadius": 0,
                "fill": "-1",
            },
            {
                "label": f"{s.variant}: lift",
                "data": scaled([p.effect for p in s.points]),
                "borderColor": colour,
                "backgroundColor": colour,
                "pointRadius": 3,
                "fill": False,
            },
        ]
    unit = "%" if difference == "relative" else ("pp" if metric_type == "proportion" else "")
    return json.dumps(
        {
            "type": "line",
            "data": {"labels": labels, "datasets": datasets},
            "options": {
                "responsive": True,
                "maintainAspectRatio": False,
                "animation": False,
                "plugins": {"legend": {"display": len(series) > 1}},
                "scales": {
                    "x": {"title": {"display": True, "text": "Data cut-off"}},
                    "y": {
                        "title": {
                            "display": True,
                            "text": f"Lift vs control ({unit})".replace(" ()", ""),
                        }
                    },
                },
            },
        }
    )


def _history_rows(
    series: list[ComparisonHistory], difference: str, metric_type: str
) -> tuple[tuple[str, str, str, str, int], ...]:
    return tuple(
        (
            p.data_cutoff.strftime("%Y-%m-%d %H:%M"),
            s.variant,
            fmt_effect(p.effect, difference, metric_type),
            f"{fmt_effect(p.ci_low, difference, metric_type, bound='low')} to "
            f"{fmt_effect(p.ci_high, difference, metric_type, bound='high')}",
            p.units,
        )
        for s in series
        for p in s.points
    )


def metric_blocks(results: ExperimentResults) -> list[MetricBlock]:
    """The snapshot's overall metrics as the page shows them: primary, secondary, guardrails."""
    difference = results.settings.get("difference", "relative")
    correction = str(results.settings.get("correction", "none"))
    alpha = float(results.settings.get("alpha", 0.05))
    metrics = sorted(
        results.metrics,
        key=lambda m: ROLE_ORDER.index(m.role) if m.role in ROLE_ORDER else len(ROLE_ORDER),
    )
    blocks = []
    for metric in metrics:
        metric_type = metric.metric_type
        series = [h for h in results.history if h.metric_key == metric.key]
        points = [p for p in results.cumulative if p.metric == metric.key]
        comparisons = metric.comparisons
        blocks.append(
            MetricBlock(
                key=metric.key,
                name=metric.name,
                role=metric.role,
                role_title=ROLE_TITLES.get(metric.role, metric.role),
                metric_type=metric_type,
                value_label=metric.value_label,
                rows=_rows(
                    metric,
                    difference,
                    results.variant_names,
                    correction=correction,
                    alpha=alpha,
                ),
                summaries=tuple((_tone(c), c.summary or c.message) for c in comparisons),
                forest=_forest(metric, difference, results.variant_names),
                forest_height=max(120, 70 + 46 * len(comparisons)),
                history=(
                    cumulative_chart(
                        points,
                        results.variant_names,
                        percent=difference == "relative" or metric_type == "proportion",
                        unit=_axis_unit(difference, metric_type),
                    )
                    if points
                    else _history_chart(series, difference, metric_type)
                ),
                history_rows=() if points else _history_rows(series, difference, metric_type),
                by_day=cumulative_rows(
                    points,
                    results.variant_names,
                    lambda v, bound="", mt=metric_type: fmt_effect(v, difference, mt, bound=bound),
                ),
                funnel=funnel_view(metric, results.variant_names),
            )
        )
    return blocks


def segment_tables(results: ExperimentResults) -> list[SegmentTable]:
    difference = results.settings.get("difference", "relative")
    tables = []
    for breakdown in results.segments:
        rows = []
        for entry in breakdown.metrics:
            value = entry.segment.value if entry.segment is not None else ""
            for row in _rows(entry, difference, results.variant_names):
                if not row.is_control:
                    rows.append((value, entry.name, row))
        tables.append(SegmentTable(breakdown.property, breakdown.values, tuple(rows)))
    return tables
