"""Signup-cohort KPIs and the weekly cohort retention table equal a brute-force computation."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from outcomes.kpis.compute import cohort_rows, cohort_table_rows
from outcomes.kpis.queries.statement import RETENTION_DAYS
from outcomes.kpis.settings import kpi_settings_get
from plg_platform.clock import monday_of
from tests.outcomes.support import (
    CUTOFF_US,
    DATA_END,
    DATA_START,
    DAY,
    KPI_CONFIG,
    assert_close,
    is_active,
    local_day,
    reference_cohorts,
    rows_by,
    segment_of,
)

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
    checked = 0
    for prop in ("", "plan"):
        expected = reference_cohorts(kpi_data, KPI_CONFIG, period, prop)
        for (cohort, seg), c in expected.items():
            get = lambda kpi, cohort=cohort, seg=seg: rows[(kpi, cohort, seg, "")]  # noqa: E731
            label = f"{period} {cohort} {seg!r}"
            ratio = lambda a, b: a / b if b else None  # noqa: E731
            assert get("new_signups").value == c["new_users"], label
            assert_close(
                get("activation_rate").value, ratio(c["activated"], c["activation_units"]), label
            )
            assert get("activation_rate").denominator == c["activation_units"], label
            assert_close(get("time_to_value").value, c.get("ttv_median_hours"), f"{label} ttv")
            never = c["ttv_units"] - c["ttv_reached"]
            assert_close(get("ttv_never_reached").value, ratio(never, c["ttv_units"]), label)
            for n in RETENTION_DAYS:
                assert_close(
                    get(f"retention_d{n}").value,
                    ratio(c[f"d{n}_retained"], c[f"d{n}_units"]),
                    f"{label} d{n}",
                )
            assert_close(get("free_to_paid").value, ratio(c["paid"], c["paid_units"]), label)
            checked += 1
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
    starts: dict[str, int] = {}
    for e in kpi_data.events:
        if e["event"] == "signed_up":
            starts[e["distinct_id"]] = min(e["t"], starts.get(e["distinct_id"], e["t"]))
    expected: dict[tuple[date, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for unit, start in starts.items():
        for prop in ("", "plan"):
            seg = segment_of(kpi_data, unit, prop)
            for k in range(13):
                if start + (k + 1) * 7 * DAY > CUTOFF_US:
                    break
                cell = expected[(monday_of(local_day(start)), seg, k)]
                cell[0] += 1
                cell[1] += any(
                    e["distinct_id"] == unit
                    and is_active(e, KPI_CONFIG)
                    and start + k * 7 * DAY <= e["t"] < start + (k + 1) * 7 * DAY
                    for e in kpi_data.events
                )
    assert len(expected) > 50
    for (week, seg, k), (units, retained) in expected.items():
        row = rows[("cohort_retention", week, seg, str(k))]
        assert (row.denominator, row.numerator) == (units, retained), (week, seg, k)
    assert len(rows) == len(expected)
