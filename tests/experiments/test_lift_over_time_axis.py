"""The lift-over-time chart's axis fits the later days, not the first days' huge intervals."""

from __future__ import annotations

import json

from experiments.contracts import CumulativePoint
from experiments.views.lift_over_time import axis_range, cumulative_chart


def _point(day: int, effect: float, half_width: float) -> CumulativePoint:
    return CumulativePoint(
        metric="aha",
        variant="treatment",
        day=f"2026-01-{day:02d}",
        units_exposed=100 * day,
        units_matured=90 * day,
        exposed_on_day=100,
        effect=effect,
        ci_low=effect - half_width,
        ci_high=effect + half_width,
        ci_level=0.95,
        significant=False,
    )


def test_the_axis_clips_the_first_days_intervals_but_keeps_every_lift_and_zero():
    # Day 1's interval is ±20 (2,000%); from day 6 on it is at most ±0.05.
    points = [_point(d, 0.10 + 0.01 * d, 20.0 / d**3) for d in range(1, 11)]
    bounds = axis_range(points, 100)
    late = [p for p in points if p.day >= "2026-01-06"]
    lo = min(0.0, *(p.ci_low for p in late), *(p.effect for p in points))
    hi = max(*(p.ci_high for p in late), *(p.effect for p in points))
    pad = (hi - lo) * 0.1
    assert bounds == {"min": round((lo - pad) * 100, 4), "max": round((hi + pad) * 100, 4)}
    assert bounds["max"] < 60  # not 2,000
    config = json.loads(cumulative_chart(points, {}, percent=True, unit="%"))
    assert config["options"]["scales"]["y"]["min"] == bounds["min"]
    assert config["options"]["scales"]["y"]["max"] == bounds["max"]


def test_no_clipping_when_every_interval_already_fits():
    points = [_point(d, 0.05, 0.02) for d in range(1, 5)]
    assert axis_range(points, 100) == {}
    config = json.loads(cumulative_chart(points, {}, percent=True, unit="%"))
    assert "min" not in config["options"]["scales"]["y"]
