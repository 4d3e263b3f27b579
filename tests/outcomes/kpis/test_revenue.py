"""Recurring revenue moves equal a brute-force computation."""

from __future__ import annotations

from datetime import date

import pytest

from outcomes.kpis.compute import revenue_rows
from outcomes.kpis.settings import kpi_settings_get
from tests.outcomes.kpis.checks import check_revenue
from tests.outcomes.support import DATA_END, rows_by

pytestmark = pytest.mark.django_db


# --- value capture ----------------------------------------------------------------------
def test_mrr_added_and_churned_equal_brute_force(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    first, last = date(2026, 2, 20), DATA_END
    rows = rows_by(revenue_rows(settings=settings, first_day=first, last_day=last))
    check_revenue(rows, kpi_data, first, last)
    assert any(r.value for r in rows.values() if r.kpi == "churned_mrr")
