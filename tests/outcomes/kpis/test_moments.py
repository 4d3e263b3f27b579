"""Success moments per signup cohort equal a brute-force computation over the raw events, and
the dashboard shows them with their definitions."""

from __future__ import annotations

import pytest

from outcomes.kpis.compute import cohort_rows
from outcomes.kpis.settings import BAD_MOMENTS, MAX_MOMENTS, kpi_settings_get
from plg_platform.clock import monday_of
from tests.outcomes.kpis.checks import check_moments
from tests.outcomes.support import (
    CUTOFF_US,
    MOMENTS,
    MOMENTS_FIRST,
    MOMENTS_LAST,
    configure,
    moment_data,
    rows_by,
    store,
)

pytestmark = pytest.mark.django_db

FIRST, LAST = MOMENTS_FIRST, MOMENTS_LAST


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
    reached_some = check_moments(rows, data, period)
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
