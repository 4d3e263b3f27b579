"""Activity KPIs (DAU, WAU, MAU, new, resurrected, churned) equal a brute-force computation,
across daylight-saving changes; another workspace's events never mix in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from outcomes.kpis.compute import activity_rows, cohort_rows
from outcomes.kpis.models import KpiValue
from outcomes.kpis.settings import kpi_settings_get
from tests.outcomes.kpis.checks import check_activity
from tests.outcomes.support import (
    CUTOFF_US,
    FIRST_DAY,
    LAST_DAY,
    Data,
    assert_close,
    configure,
    days_between,
    local_day,
    local_instant,
    rows_by,
    store,
)

pytestmark = pytest.mark.django_db


# --- activity ---------------------------------------------------------------------------
def test_activity_kpis_equal_brute_force_across_the_spring_dst_change(workspace, kpi_data):
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(activity_rows(settings=settings, first_day=FIRST_DAY, last_day=LAST_DAY))
    checked = check_activity(rows, kpi_data, FIRST_DAY, LAST_DAY)
    assert checked > 40
    # The data really exercises churn, resurrection and the short day.
    assert any(r.kpi == "resurrected_users" and r.value for r in rows.values())
    assert any(r.kpi == "churned_users" and r.value for r in rows.values())
    assert rows[("dau", date(2026, 3, 29), "", "")].value > 0


def test_events_at_local_midnight_count_on_the_new_day_even_on_dst_days(workspace):
    """23:59:59.999999 and 00:00 local fall on different days, whatever the UTC offset."""
    configure(workspace, segment_properties=[])
    data = Data()
    for day in (date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)):
        data.add(f"late-{day}", "session", local_instant(day, 23, 59, 59, 999_999))
        data.add(f"early-{day}", "session", local_instant(day, 0))
    # 02:30 does not exist on 29 March: the generator moves it to 03:30 CEST, still that day.
    data.add("gap", "session", local_instant(date(2026, 3, 29), 2, 30))
    store(workspace, data)
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(
        activity_rows(settings=settings, first_day=date(2026, 3, 28), last_day=date(2026, 3, 31))
    )
    dau = {
        day: rows[("dau", day, "", "")].value
        for day in days_between(date(2026, 3, 28), date(2026, 3, 31))
    }
    assert dau == {
        date(2026, 3, 28): 2,
        date(2026, 3, 29): 3,
        date(2026, 3, 30): 2,
        date(2026, 3, 31): 0,
    }
    assert rows[("mau", date(2026, 3, 31), "", "")].value == 7


def test_autumn_dst_day_is_25_hours_long(workspace):
    configure(workspace, segment_properties=[])
    data = Data()
    day = date(2026, 10, 25)
    data.add("a", "session", local_instant(day, 0, 0))
    data.add("b", "session", local_instant(day, 23, 59))  # 25 hours after local midnight
    data.add("c", "session", local_instant(day + timedelta(days=1), 0, 0))
    store(workspace, data)
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(
        activity_rows(settings=settings, first_day=day, last_day=day + timedelta(days=1))
    )
    assert rows[("dau", day, "", "")].value == 2
    assert rows[("dau", day + timedelta(days=1), "", "")].value == 1


def test_empty_period_gives_zero_counts_and_undefined_ratios(workspace):
    configure(workspace)
    settings = kpi_settings_get(workspace=workspace)
    rows = rows_by(activity_rows(settings=settings, first_day=FIRST_DAY, last_day=FIRST_DAY))
    assert rows[("dau", FIRST_DAY, "", "")].value == 0
    assert rows[("stickiness_dau_mau", FIRST_DAY, "", "")].value is None
    assert rows[("growth_ratio", FIRST_DAY, "", "")].value is None
    assert rows[("pes", FIRST_DAY, "", "")].value is None
    cohorts = rows_by(
        cohort_rows(
            settings=settings,
            period="day",
            first_day=FIRST_DAY,
            last_day=FIRST_DAY,
            cutoff_us=CUTOFF_US,
        )
    )
    assert cohorts[("activation_rate", FIRST_DAY, "", "")].value is None
    assert cohorts[("time_to_value", FIRST_DAY, "", "")].value is None
    assert cohorts[("new_signups", FIRST_DAY, "", "")].value == 0


def test_kpi_values_of_another_workspace_never_mix(workspace, other_workspace, kpi_data):
    settings = kpi_settings_get(workspace=other_workspace)
    rows = rows_by(activity_rows(settings=settings, first_day=FIRST_DAY, last_day=FIRST_DAY))
    assert rows[("mau", FIRST_DAY, "", "")].value == 0
    assert not KpiValue.objects.exists()


# --- feature adoption: 0, not missing, when no monthly active user used a feature ---------
def _adoption_data() -> Data:
    """One user active every day; another who used two features once, on 2 March."""
    data = Data()
    for i in range(60):
        data.add("daily", "session", local_instant(date(2026, 2, 20) + timedelta(days=i), 10))
    data.add("once", "share", local_instant(date(2026, 3, 2), 10))
    data.add("once", "feature_used", local_instant(date(2026, 3, 2), 11), feature="tables")
    return data


def test_feature_adoption_is_zero_on_days_no_active_user_used_the_feature(workspace):
    data = _adoption_data()
    store(workspace, data)
    configure(workspace, segment_properties=[])
    settings = kpi_settings_get(workspace=workspace)
    first, last = date(2026, 3, 25), date(2026, 4, 5)
    rows = rows_by(activity_rows(settings=settings, first_day=first, last_day=last))
    for day in days_between(first, last):
        # Brute force: users of the feature in the 30 days ending d, over the MAU of d.
        month = [e for e in data.events if day - timedelta(days=29) <= local_day(e["t"]) <= day]
        mau = len({e["distinct_id"] for e in month if e["event"] != "email_bounced"})
        for feature, event, props in (
            ("share", "share", {}),
            ("feature_used:tables", "feature_used", {"feature": "tables"}),
        ):
            users = {
                e["distinct_id"] for e in month if e["event"] == event and e["properties"] == props
            }
            row = rows[("feature_adoption", day, "", feature)]
            assert (row.numerator, row.denominator) == (len(users), mau), (day, feature)
            assert_close(row.value, len(users) / mau, f"{day} {feature}")
    assert rows[("feature_adoption", last, "", "share")].value == 0.0
    assert rows[("feature_adoption", first, "", "share")].value == 0.5
