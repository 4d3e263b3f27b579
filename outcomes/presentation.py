"""What the KPI and OKR pages share: their 403 message, charts' JSON, changes and inputs; and,
re-exported from ``outcomes.wording`` (which services may use too), status labels and numbers
written the way people read them (rates as percentages, users with thousands separators, hours
with their unit).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from metrics.public import Metric
from outcomes.wording import (
    RATE_METRIC_TYPES,
    STATUS_LABELS,
    STATUS_SYMBOLS,
    finite,
    format_value,
    metric_is_rate,
    metric_unit,
    number_text,
)
from plg_platform.models import Role
from plg_platform.web import pages
from plg_platform.web.pages import View

__all__ = [
    "EDITORS_ONLY",
    "RATE_METRIC_TYPES",
    "STATUS_LABELS",
    "STATUS_SYMBOLS",
    "change_text",
    "chart_json",
    "finite",
    "format_value",
    "metric_is_rate",
    "metric_unit",
    "number_text",
    "percent_input",
    "plain_input",
    "series_points",
    "value_input",
    "workspace_page",
]

EDITORS_ONLY = "Only editors of this workspace can change objectives, key results and KPI settings."


def workspace_page(role: str = Role.VIEWER, denied: str = EDITORS_ONLY) -> Callable[[View], View]:
    """``plg_platform.web.pages.workspace_page`` with the outcomes pages' 403 message."""
    return pages.workspace_page(role, denied)


def chart_json(config: Mapping[str, Any]) -> str:
    """A chart's data for ``data-config`` (the template escapes it into the attribute)."""
    return json.dumps(config, separators=(",", ":"), allow_nan=False)


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
