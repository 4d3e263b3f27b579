"""The KPI cache: a refresh stores what the statements compute, later refreshes recompute only
new days plus the late-event window, and a recompute of a period reports its progress."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from outcomes.kpis.models import KpiSettings, KpiValue
from outcomes.kpis.recompute import (
    RANGE_IN_FUTURE,
    RECOMPUTE_RUNNING,
    kpi_recompute_request,
    kpi_recompute_run,
)
from outcomes.kpis.refresh import LATE_EVENT_DAYS, kpis_refresh
from outcomes.kpis.settings import kpi_settings_get, kpi_settings_update
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import BackgroundJob, JobStatus
from tests.outcomes.support import (
    BERLIN,
    KPI_CONFIG,
    NOW,
    Data,
    configure,
    generate,
    local_instant,
    reference_activity,
    reference_cohorts,
    store,
)

pytestmark = pytest.mark.django_db

TODAY = NOW.date()  # 25 April 2026 in Berlin


def _dau(workspace, day: date) -> KpiValue:
    return KpiValue.objects.get(
        workspace=workspace, kpi="dau", period="day", date=day, segment="", dimension=""
    )


@pytest.fixture
def refreshed(workspace):
    data = generate(seed=11)
    store(workspace, data)
    configure(workspace)
    result = kpis_refresh(workspace=workspace, now=NOW)
    return data, result


def test_first_refresh_caches_every_day_since_the_first_event(workspace, refreshed):
    data, result = refreshed
    first_day = min(datetime.fromtimestamp(e["t"] / 1e6, tz=BERLIN).date() for e in data.events)
    assert result.days == (first_day, TODAY)
    days = set(
        KpiValue.objects.filter(workspace=workspace, kpi="dau", segment="").values_list(
            "date", flat=True
        )
    )
    assert days == {first_day + timedelta(days=i) for i in range((TODAY - first_day).days + 1)}
    settings = KpiSettings.objects.get(workspace=workspace)
    assert settings.computed_through == TODAY
    assert settings.last_computed_at == NOW
    # The cached values are the brute-force ones.
    for day in (date(2026, 3, 29), date(2026, 4, 10)):
        expected = reference_activity(data, KPI_CONFIG, day)[""]
        assert _dau(workspace, day).value == expected["dau"]
        mau = KpiValue.objects.get(workspace=workspace, kpi="mau", date=day, segment="")
        assert mau.value == expected["mau"]
    weekly = reference_cohorts(data, KPI_CONFIG, "week")
    for (monday, _), counts in weekly.items():
        row = KpiValue.objects.get(
            workspace=workspace, kpi="activation_rate", period="week", date=monday, segment=""
        )
        assert (row.numerator, row.denominator) == (
            counts["activated"],
            counts["activation_units"],
        )
    assert KpiValue.objects.filter(workspace=workspace, kpi="cohort_retention").exists()


def test_incremental_refresh_picks_up_a_late_event_inside_the_window_only(workspace, refreshed):
    """A refresh recomputes the days since the last one plus LATE_EVENT_DAYS before it: a late
    event two days back is counted, one ten days back is not (its day is not recomputed)."""
    data, _ = refreshed
    inside = TODAY - timedelta(days=2)
    outside = TODAY - timedelta(days=10)
    before_inside = _dau(workspace, inside)
    before_outside = _dau(workspace, outside)
    late = Data()
    late.add("latecomer-1", "session", local_instant(inside, 10))
    late.add("latecomer-2", "session", local_instant(outside, 10))
    store(workspace, late)

    later = NOW + timedelta(hours=1)
    written_after = timezone.now()  # computed_at is the wall-clock time of the write
    result = kpis_refresh(workspace=workspace, now=later)

    assert result.days == (TODAY - timedelta(days=LATE_EVENT_DAYS), TODAY)
    after_inside = _dau(workspace, inside)
    assert after_inside.value == before_inside.value + 1
    assert after_inside.computed_at >= written_after
    after_outside = _dau(workspace, outside)
    assert after_outside.value == before_outside.value  # stale until recomputed on demand
    assert after_outside.computed_at == before_outside.computed_at
    # Exactly the window's days of the daily KPIs were rewritten, nothing before them.
    rewritten = set(
        KpiValue.objects.filter(
            workspace=workspace, period="day", kpi="dau", computed_at__gte=written_after
        ).values_list("date", flat=True)
    )
    assert rewritten == {TODAY - timedelta(days=d) for d in range(LATE_EVENT_DAYS + 1)}
    untouched = KpiValue.objects.filter(
        workspace=workspace, period="day", kpi="dau", date__lt=TODAY - timedelta(days=3)
    )
    assert untouched.count() > 60
    assert not untouched.filter(computed_at__gte=written_after).exists()
    # Cohorts still maturing are recomputed (back to their longest window), older ones not.
    cohort_rewritten = KpiValue.objects.filter(
        workspace=workspace, kpi="retention_d30", period="day", computed_at__gte=written_after
    ).values_list("date", flat=True)
    assert min(cohort_rewritten) == TODAY - timedelta(days=LATE_EVENT_DAYS + 31)

    # A recompute of the old day on demand picks the late event up.
    job = kpi_recompute_request(workspace=workspace, date_from=outside, date_to=outside, now=later)
    kpi_recompute_run(job=job, now=later)
    assert _dau(workspace, outside).value == before_outside.value + 1
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress == 1.0
    assert job.result["rows_written"] > 0


def test_a_refresh_twice_at_the_same_moment_writes_the_same_rows(workspace, refreshed):
    def snapshot():
        return sorted(
            KpiValue.objects.filter(workspace=workspace).values_list(
                "kpi", "period", "date", "segment", "dimension", "value", "numerator"
            ),
            key=str,
        )

    before = snapshot()
    kpis_refresh(workspace=workspace, now=NOW, full=True)
    assert snapshot() == before


def test_changing_what_a_kpi_counts_schedules_a_full_recompute(workspace, refreshed):
    kpi_settings_update(workspace=workspace, changes={"aha_event": "share"})
    assert KpiSettings.objects.get(workspace=workspace).computed_through is None
    result = kpis_refresh(workspace=workspace, now=NOW + timedelta(hours=1))
    assert result.days[0] < TODAY - timedelta(days=60)
    # A PQL threshold changes no KPI value: no full recompute.
    kpi_settings_update(workspace=workspace, changes={"pql_min_count": 3})
    assert KpiSettings.objects.get(workspace=workspace).computed_through == TODAY


def test_a_workspace_without_events_has_nothing_to_compute(workspace):
    assert kpis_refresh(workspace=workspace, now=NOW).rows_written == 0
    assert not KpiValue.objects.exists()


def test_recompute_requests_are_validated_and_one_runs_at_a_time(workspace, refreshed):
    with pytest.raises(ValidationFailed) as error:
        kpi_recompute_request(
            workspace=workspace, date_from=TODAY, date_to=TODAY + timedelta(1), now=NOW
        )
    assert error.value.field == "to"
    assert error.value.message == RANGE_IN_FUTURE.format(today=TODAY.isoformat())
    with pytest.raises(ValidationFailed) as error:
        kpi_recompute_request(
            workspace=workspace, date_from=TODAY, date_to=TODAY - timedelta(1), now=NOW
        )
    assert error.value.field == "from"
    job = kpi_recompute_request(workspace=workspace, date_from=TODAY, date_to=TODAY, now=NOW)
    with pytest.raises(Conflict) as error:
        kpi_recompute_request(workspace=workspace, date_from=TODAY, date_to=TODAY, now=NOW)
    assert error.value.message == RECOMPUTE_RUNNING.format(id=job.pk)
    assert BackgroundJob.objects.count() == 1


def test_a_failing_recompute_fails_its_job(workspace, refreshed, monkeypatch):
    from outcomes.kpis import refresh as service

    job = kpi_recompute_request(workspace=workspace, date_from=TODAY, date_to=TODAY, now=NOW)

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "daily_rows", broken)
    with pytest.raises(RuntimeError):
        kpi_recompute_run(job=job, now=NOW)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "disk on fire" in job.error


def test_segment_rows_are_cached_for_each_configured_property(workspace, refreshed):
    data, _ = refreshed
    day = date(2026, 4, 1)
    expected = reference_activity(data, KPI_CONFIG, day, "plan")
    cached = {
        row.segment: row.value
        for row in KpiValue.objects.filter(workspace=workspace, kpi="mau", date=day).exclude(
            segment=""
        )
    }
    assert cached == {seg: c["mau"] for seg, c in expected.items()}
    assert kpi_settings_get(workspace=workspace).segment_properties == ["plan"]
