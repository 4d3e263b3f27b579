"""What the KPI and OKR pages share: their 403 message, status labels, charts' JSON, and numbers
written the way people read them (rates as percentages, users with thousands separators, hours
with their unit).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from metrics.public import Metric, MetricType
from plg_platform.models import Role
from plg_platform.web import pages
from plg_platform.web.pages import View

EDITORS_ONLY = "Only editors of this workspace can change objectives, key results and KPI settings."
STATUS_LABELS = {
    "on_track": "On track",
    "at_risk": "At risk",
    "off_track": "Off track",
    "no_data": "No data yet",
}


# A shape beside the words, so that status never rests on colour alone (nor on the shape).
STATUS_SYMBOLS = {"on_track": "●", "at_risk": "▲", "off_track": "■", "no_data": "○"}


def workspace_page(role: str = Role.VIEWER, denied: str = EDITORS_ONLY) -> Callable[[View], View]:
    """``plg_platform.web.pages.workspace_page`` with the outcomes pages' 403 message."""
    return pages.workspace_page(role, denied)


def chart_json(config: Mapping[str, Any]) -> str:
    """A chart's data for ``data-config`` (the template escapes it into the attribute)."""
    return json.dumps(config, separators=(",", ":"), allow_nan=False)


def finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


# Metrics whose value is a share of units: typed and shown as percentages.
RATE_METRIC_TYPES = frozenset({MetricType.CONVERSION, MetricType.RETENTION, MetricType.MOMENT})


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


def change_text(current: float | None, previous: float | None, unit: str) -> str:
    """How a value moved since the previous window: "up 2.1 pp", "down 12", "no change"."""
    now, before = finite(current), finite(previous)
    if now is None or before is None:
        return ""
    delta = now - before
    if delta == 0:
        return "no change"
    word = "up" if delta > 0 else "down"
    if unit == "share":
        return f"{word} {abs(delta) * 100:.1f} pp"
    return f"{word} {format_value(abs(delta), unit)}"


def percent_input(value: float | None) -> float | int | None:
    """0.36 → 36, 0.3333 → 33.33: a stored fraction as it reads well in an input."""
    if value is None:
        return None
    number = round(value * 100, 4)
    return int(number) if number == int(number) else number


def plain_input(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == int(value) else value


def value_input(value: float | None, metric: Metric) -> float | int | None:
    """A metric's stored value as typed in a form (percentages for rate metrics)."""
    return percent_input(value) if metric_is_rate(metric) else plain_input(value)


def series_points(values: Iterable[float | None]) -> list[float | None]:
    """Values for a chart's JSON: non-finite numbers become gaps."""
    return [finite(v) for v in values]
