"""Success moments per signup cohort equal a brute-force computation over the raw events, and
the dashboard shows them with their definitions."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

import pytest

from outcomes.kpis.compute import cohort_rows
from outcomes.kpis.settings import BAD_MOMENTS, MAX_MOMENTS, kpi_settings_get
from plg_platform.clock import monday_of
from tests.outcomes.support import (
    CUTOFF_US,
    DAY,
    HOUR,
    Data,
    configure,
    local_day,
    local_instant,
    rows_by,
    segment_of,
    store,
)

pytestmark = pytest.mark.django_db

MOMENTS = [
    {"name": "Setup", "event": "setup", "window_days": 1, "min_count": 1, "min_distinct_days": 1},
    {"name": "Aha", "event": "doc", "window_days": 7, "min_count": 1, "min_distinct_days": 1},
    {
        "name": "Eureka",
        "event": "invite",
        "window_days": 14,
        "min_count": 1,
        "min_distinct_days": 1,
    },
    {"name": "Habit", "event": "doc", "window_days": 30, "min_count": 6, "min_distinct_days": 4},
]
FIRST, LAST = date(2026, 2, 1), date(2026, 4, 24)


def moment_data(seed: int = 3) -> Data:
    rng = random.Random(seed)
    data = Data()
    for u in range(90):
        unit = f"m{u}"
        data.persons[unit] = {"plan": rng.choice(["free", "pro"])}
        signup = local_instant(FIRST + timedelta(days=rng.randint(0, 82)), rng.randint(0, 23))
        data.add(unit, "signed_up", signup)
        if rng.random() < 0.6:  # Setup just inside or just outside one day
            data.add(unit, "setup", signup + timedelta(hours=rng.choice([0, 5, 23.99, 24, 30])))
        if rng.random() < 0.4:
            data.add(unit, "invite", signup + timedelta(days=rng.choice([1, 13.9, 14, 20])))
        for _ in range(rng.randint(0, 12)):  # docs on some days, some after the windows
            data.add(unit, "doc", signup + timedelta(hours=rng.uniform(0, 40 * 24)))
        if rng.random() < 0.2:  # several docs the same day: count, but one distinct day
            day = signup + timedelta(days=2)
            for i in range(6):
                data.add(unit, "doc", day + timedelta(minutes=i))
    data.add("m0", "doc", local_instant(FIRST, 0) - timedelta(days=3))  # before any start
    return data


def reference(data: Data, period: str, prop: str) -> dict[tuple[date, str, str], list[int]]:
    """{(cohort, segment, moment): [matured, reached]}, from the raw events."""
    starts: dict[str, int] = {}
    for e in data.events:
        if e["event"] == "signed_up" and e["t"] < CUTOFF_US:
            starts[e["distinct_id"]] = min(starts.get(e["distinct_id"], e["t"]), e["t"])
    out: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for unit, start in starts.items():
        cohort = local_day(start) if period == "day" else monday_of(local_day(start))
        for m in MOMENTS:
            window = m["window_days"] * DAY
            if start + window > CUTOFF_US:
                continue
            times = [
                e["t"]
                for e in data.events
                if e["distinct_id"] == unit
                and e["event"] == m["event"]
                and start <= e["t"] < start + window
            ]
            days = {(t - start) // (24 * HOUR) for t in times}
            cell = out[(cohort, segment_of(data, unit, prop), m["name"])]
            cell[0] += 1
            cell[1] += len(times) >= m["min_count"] and len(days) >= m["min_distinct_days"]
    return out


@pytest.mark.parametrize("period", ["day", "week"])
def test_success_moment_rates_per_cohort_equal_brute_force(workspace, period):
    data = moment_data()
    store(workspace, data)
    configure(workspace, success_moments=MOMENTS)
    rows = rows_by(
        cohort_rows(
            settings=kpi_settings_get(workspace=workspace),
            period=period,
            first_day=FIRST,
            last_day=LAST,
            cutoff_us=CUTOFF_US,
        )
    )
    reached_some = set()
    for prop in ("", "plan"):
        expected = reference(data, period, prop)
        assert len(expected) > 20
        for (cohort, seg, name), (units, reached) in expected.items():
            row = rows[("success_moment", cohort, seg, name)]
            assert (row.denominator, row.numerator) == (units, reached), (cohort, seg, name)
            assert row.value == (reached / units if units else None)
            if reached:
                reached_some.add(name)
    assert reached_some == {"Setup", "Aha", "Eureka", "Habit"}
    # Cohorts too young for a moment's window have no matured users, not a rate of 0.
    young = rows[("success_moment", monday_of(LAST) if period == "week" else LAST, "", "Habit")]
    assert (young.denominator, young.value) == (0, None)


@pytest.mark.parametrize(
    "moments",
    [
        [{"name": "Setup"}],
        [{"name": "Setup", "event": "setup", "window_days": 0}],
        [{"name": "Habit", "event": "doc", "window_days": 3, "min_distinct_days": 4}],
        [{"name": "A", "event": "x"}, {"name": "a", "event": "y"}],
        [{"name": f"M{i}", "event": "x"} for i in range(MAX_MOMENTS + 1)],
        [{"name": "Setup", "event": "x", "extra": 1}],
    ],
)
def test_bad_success_moments_are_a_400_naming_the_field(editor, moments):
    response = editor.client.patch(
        "/api/v1/kpis/settings", {"success_moments": moments}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["success_moments"] == [BAD_MOMENTS.format(max=MAX_MOMENTS)]
    assert kpi_settings_get(workspace=editor.workspace).success_moments == []
