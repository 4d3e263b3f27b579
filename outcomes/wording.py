"""Words and numbers as people read them, for pages, notifications and webhooks alike: status
labels, rates as percentages, hours with their unit. No web imports, so services may use it;
``outcomes.presentation`` re-exports it for the pages.
"""

from __future__ import annotations

import math
from typing import Any

from metrics.public import Metric, MetricType

STATUS_LABELS = {
    "on_track": "On track",
    "at_risk": "At risk",
    "off_track": "Off track",
    "no_data": "No data yet",
}


# A shape beside the words, so that status never rests on colour alone (nor on the shape).
STATUS_SYMBOLS = {"on_track": "●", "at_risk": "▲", "off_track": "■", "no_data": "○"}


def finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


# Metrics whose value is a share of units: typed and shown as percentages.
RATE_METRIC_TYPES = frozenset(
    {MetricType.CONVERSION, MetricType.RETENTION, MetricType.MOMENT, MetricType.FUNNEL}
)


def metric_is_rate(metric: Metric) -> bool:
    return metric.type in RATE_METRIC_TYPES


# --- numbers as people read them ------------------------------------------------------------
def metric_unit(metric: Metric) -> str:
    """The unit of a metric's values, as the charts name it: share, hours or number."""
    if metric_is_rate(metric):
        return "share"
    if metric.type == MetricType.TIME_TO_EVENT:
        return "hours"
    if metric.type == MetricType.QUANTILE and metric.quantile_of == "unit" and not metric.property:
        return "hours"  # a quantile of the time to the event
    return "number"


def number_text(value: float) -> str:
    """1,234 for large numbers; three significant digits for small ones (0.0123, 12.3)."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_value(value: float | None, unit: str) -> str:
    """Write a value of a KPI unit (users, share, ratio, hours, score, currency) or a metric
    unit (share, hours, number); "—" when there is none."""
    number = finite(value)
    if number is None:
        return "—"
    if unit == "share":
        return f"{number * 100:.1f}%"
    if unit == "users":
        return f"{number:,.0f}" if number == int(number) else f"{number:,.1f}"
    if unit == "currency":
        return f"${number:,.0f}"
    if unit == "hours":
        return f"{number:.1f} h" if number < 100 else f"{number:,.0f} h"
    if unit == "score":
        return f"{number:.1f}"
    if unit == "ratio":
        return f"{number:.2f}"
    return number_text(number)
