"""Each cohort KPI is computed over its own window: activation over the activation window,
time to value over the time-to-value window, whichever is longer.

The reference here is independent of the shared one in ``tests/outcomes/support.py``: plain
Python over the raw events, with its own window logic.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import pytest

from outcomes.kpis.compute import cohort_rows
from outcomes.kpis.settings import kpi_settings_get
from tests.outcomes.support import (
    CUTOFF_US,
    DAY,
    HOUR,
    Data,
    assert_close,
    configure,
    local_day,
    local_instant,
    rows_by,
    store,
)

pytestmark = pytest.mark.django_db

FIRST = date(2026, 3, 1)
LAST = date(2026, 4, 24)
# Hours from signup to the first Aha: inside both windows, between them, at an edge, never.
AHA_AFTER_HOURS = [0, 5, 71.99, 72, 100, 200, 335.99, 336, 400, None]


def _data() -> Data:
    data = Data()
    for i in range(60):
        day = FIRST + timedelta(days=i % 50)
        signup = local_instant(day, 9 + i % 12, i % 60)
        unit = f"w{i}"
        data.add(unit, "signed_up", signup)
        hours = AHA_AFTER_HOURS[i % len(AHA_AFTER_HOURS)]
        if hours is not None:
            data.add(unit, "doc", signup + timedelta(hours=hours))
            data.add(unit, "doc", signup + timedelta(hours=hours + 30))  # later Ahas don't count
    data.add("early", "doc", local_instant(FIRST, 8))  # an Aha before the start never counts
    data.add("early", "signed_up", local_instant(FIRST, 9))
    return data


def _reference(data: Data, activation_days: int, ttv_days: int) -> dict[date, dict]:
    """Per local signup day: activation and time to value, each over its own window."""
    starts: dict[str, int] = {}
    for e in data.events:
        if e["event"] == "signed_up":
            starts[e["distinct_id"]] = min(starts.get(e["distinct_id"], e["t"]), e["t"])
    out: dict[date, dict] = {}
    for unit, start in starts.items():
        after = sorted(
            e["t"] - start
            for e in data.events
            if e["distinct_id"] == unit and e["event"] == "doc" and start <= e["t"] < CUTOFF_US
        )
        first_aha = after[0] if after else None
        c = out.setdefault(
            local_day(start), {"act_units": 0, "activated": 0, "ttv_units": 0, "hours": []}
        )
        if start + activation_days * DAY <= CUTOFF_US:
            c["act_units"] += 1
            c["activated"] += first_aha is not None and first_aha < activation_days * DAY
        if start + ttv_days * DAY <= CUTOFF_US:
            c["ttv_units"] += 1
            if first_aha is not None and first_aha < ttv_days * DAY:
                c["hours"].append(first_aha / HOUR)
    return out


@pytest.mark.parametrize(("activation_days", "ttv_days"), [(14, 3), (3, 14), (7, 7)])
def test_activation_and_time_to_value_use_their_own_windows(workspace, activation_days, ttv_days):
    data = _data()
    store(workspace, data)
    configure(workspace, activation_window_days=activation_days, ttv_window_days=ttv_days)
    rows = rows_by(
        cohort_rows(
            settings=kpi_settings_get(workspace=workspace),
            period="day",
            first_day=FIRST,
            last_day=LAST,
            cutoff_us=CUTOFF_US,
        )
    )
    expected = _reference(data, activation_days, ttv_days)
    between = 0
    for day, c in expected.items():
        activation = rows[("activation_rate", day, "", "")]
        assert (activation.numerator, activation.denominator) == (c["activated"], c["act_units"])
        ttv = rows[("time_to_value", day, "", "")]
        assert (ttv.numerator, ttv.denominator) == (len(c["hours"]), c["ttv_units"]), day
        median = statistics.median(c["hours"]) if c["hours"] else None
        assert_close(ttv.value, median, f"{day} median")
        never = rows[("ttv_never_reached", day, "", "")]
        assert never.numerator == c["ttv_units"] - len(c["hours"]), day
        between += c["activated"] - len(c["hours"])
    if activation_days > ttv_days:  # the data has users whose first Aha is between the windows
        assert between >= 10
