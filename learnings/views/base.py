"""What the learnings pages share: the role check, a learning or a 404, and a learning's
numbers formatted the way the statistics engine formats them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest

from experiments.stats.summaries import format_effect, format_p_value, format_probability
from learnings.models import Learning
from learnings.selectors import learning_get
from plg_platform.errors import NotFound
from plg_platform.models import Workspace

EDITORS_ONLY = "Only editors of this workspace can change learnings."
NOT_MEASURED = "Not measured"


def learning_or_404(workspace: Workspace, learning_id: int) -> Learning:
    """The workspace's learning; another workspace's (or none) is simply not found."""
    try:
        return learning_get(workspace=workspace, learning_id=learning_id)
    except NotFound as error:
        raise Http404(error.message) from None


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def lift_text(value: Any, difference: str = "relative", *, signed: bool = True) -> str:
    """+3.1% for a relative lift, +0.012 for an absolute one (in the metric's units)."""
    number = _finite(value)
    if number is None:
        return "—"
    if difference == "relative":
        text = format_effect(number, "relative", "mean")
    else:
        text = f"{number:.3g}"
    return f"+{text}" if signed and number > 0 else text


def impact_text(learning: Learning) -> str:
    return lift_text(learning.impact) if learning.impact is not None else ""


@dataclass(frozen=True)
class ResultRow:
    """One comparison stored on a learning, formatted for a table."""

    metric: str
    role: str
    variant: str
    effect: str
    interval: str
    evidence: str
    verdict: str
    tone: str  # good | bad | neutral
    numbers: Mapping[str, Any]


def result_row(result: Mapping[str, Any], difference: str) -> ResultRow:
    low, high = result.get("ci_low"), result.get("ci_high")
    if _finite(low) is None and _finite(high) is None:
        interval = "—"
    else:
        interval = (
            f"{lift_text(low, difference) if _finite(low) is not None else '−∞'} to "
            f"{lift_text(high, difference) if _finite(high) is not None else '+∞'}"
        )
    if _finite(result.get("p_value")) is not None:
        evidence = format_p_value(result["p_value"])
    elif _finite(result.get("chance_to_win")) is not None:
        evidence = f"{format_probability(result['chance_to_win'])} chance to win"
    else:
        evidence = "—"
    verdict = result.get("verdict") or ""
    return ResultRow(
        metric=result.get("metric_name") or result.get("metric_key") or "—",
        role=(result.get("metric_role") or "")
        + (" · lower is better" if result.get("higher_is_better") is False else ""),
        variant=result.get("variant") or "",
        effect=lift_text(result.get("effect"), difference),
        interval=interval,
        evidence=evidence,
        verdict=verdict,
        tone={"win": "good", "loss": "bad"}.get(verdict, "neutral"),
        numbers=result,
    )


def result_rows(results: Iterable[Mapping[str, Any]], difference: str) -> list[ResultRow]:
    return [result_row(result, difference) for result in results if result]


def forest_config(rows: list[ResultRow], difference: str) -> str:
    """The JSON a ``<canvas data-chart="forest">`` reads (see static/plg/js/charts.js)."""
    return json.dumps(
        {
            "labels": [
                f"{row.metric} ({row.numbers['metric_role']})"
                if row.numbers.get("metric_role")
                else row.metric
                for row in rows
            ],
            "effects": [_finite(row.numbers.get("effect")) for row in rows],
            "lows": [_finite(row.numbers.get("ci_low")) for row in rows],
            "highs": [_finite(row.numbers.get("ci_high")) for row in rows],
            "tones": [row.tone for row in rows],
            "unit": "percent" if difference == "relative" else "number",
            "axis": "Change against control"
            + (" (relative)" if difference == "relative" else " (metric units)"),
        }
    )
