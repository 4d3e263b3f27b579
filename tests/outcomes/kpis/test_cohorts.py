"""Signup-cohort KPIs and the weekly cohort retention table equal a brute-force computation."""

from __future__ import annotations

import pytest

from outcomes.kpis.compute import cohort_rows, cohort_table_rows
from outcomes.kpis.settings import kpi_settings_get
from plg_platform.clock import monday_of
from tests.outcomes.kpis.checks import check_cohort_table, check_cohorts
from tests.outcomes.support import CUTOFF_US, DATA_END, DATA_START, rows_by

pytestmark = pytest.mark.django_db


# --- signup cohorts ---------------------------------------------------------------------
@pytest.mark.parametrize("period", ["day", "week"])
def test_cohort_kpis_equal_brute_force(workspace, kpi_data, period):
    settings = kpi_settings_get(workspace=workspace)
    first, last = DATA_START, DATA_END
    rows = rows_by(
        cohort_rows(
            settings=settings, period=period, first_day=first, last_day=last, cutoff_us=CUTOFF_US
        )
    )
    checked = check_cohorts(rows, kpi_data, period)
    assert checked > 30
    medians = [r.value for r in rows.values() if r.kpi == "time_to_value" and r.value is not None]
    assert medians, "some cohorts reached value"


def test_cohort_retention_table_equals_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(
        cohort_table_rows(
            settings=settings,
            first_week=monday_of(DATA_START),
            last_week=DATA_END,
            cutoff_us=CUTOFF_US,
            weeks=12,
        )
    )
    assert check_cohort_table(rows, kpi_data, weeks=12) > 50
