"""The KPI refresh's lookback is a setting (``KPI_LOOKBACK_DAYS``, one family with the
experiments' ``METRICS_LOOKBACK_DAYS``), and a recompute job says what its statements cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from outcomes.kpis.models import KpiValue
from outcomes.kpis.recompute import kpi_recompute_request, kpi_recompute_run
from outcomes.kpis.refresh import LATE_EVENT_DAYS, ROWS_COUNTED, kpis_refresh
from plg_platform.models import BackgroundJob, Event
from plg_platform.services.ingestion import to_epoch_us
from tests.outcomes.support import NOW, Data, configure, generate, local_instant, store

pytestmark = pytest.mark.django_db

TODAY = NOW.date()


@pytest.fixture
def refreshed(workspace):
    data = generate(seed=11)
    store(workspace, data)
    configure(workspace)
    kpis_refresh(workspace=workspace, now=NOW)
    return data


def _dau(workspace, day):
    return KpiValue.objects.get(
        workspace=workspace, kpi="dau", period="day", date=day, segment="", dimension=""
    ).value


def test_the_default_lookback_is_the_one_kpis_always_had(settings):
    assert settings.KPI_LOOKBACK_DAYS == LATE_EVENT_DAYS == 3
    assert settings.METRICS_LOOKBACK_DAYS == 2


def test_a_longer_lookback_picks_up_an_older_late_event(workspace, refreshed, settings):
    """With the default (3 days) a session six days back would be missed; with 7 it counts."""
    six_days_back = TODAY - timedelta(days=6)
    before = _dau(workspace, six_days_back)
    late = Data()
    late.add("latecomer", "session", local_instant(six_days_back, 10))
    store(workspace, late)

    settings.KPI_LOOKBACK_DAYS = 7
    result = kpis_refresh(workspace=workspace, now=NOW + timedelta(hours=1))

    assert result.days == (TODAY - timedelta(days=7), TODAY)
    assert _dau(workspace, six_days_back) == before + 1


def test_a_shorter_lookback_recomputes_fewer_days(workspace, refreshed, settings):
    settings.KPI_LOOKBACK_DAYS = 0
    written_after = timezone.now()
    result = kpis_refresh(workspace=workspace, now=NOW + timedelta(hours=1))

    assert result.days == (TODAY, TODAY)
    rewritten = set(
        KpiValue.objects.filter(
            workspace=workspace, period="day", kpi="dau", computed_at__gte=written_after
        ).values_list("date", flat=True)
    )
    assert rewritten == {TODAY}


def test_refreshes_and_recompute_jobs_report_what_their_statements_cost(workspace, refreshed):
    result = kpis_refresh(workspace=workspace, now=NOW + timedelta(hours=1))
    assert result.scan["statements"] > 5
    assert result.scan["seconds"] > 0
    before_cutoff = Event.objects.filter(
        workspace=workspace, timestamp_us__lt=to_epoch_us(NOW + timedelta(hours=1))
    ).count()
    assert result.scan["rows_read"] == before_cutoff > 0
    assert result.scan["rows_read_source"] == ROWS_COUNTED

    first_day = TODAY - timedelta(days=5)
    job = kpi_recompute_request(workspace=workspace, date_from=first_day, date_to=TODAY, now=NOW)
    done = kpi_recompute_run(job=job, now=NOW)
    job = BackgroundJob.objects.get(pk=job.pk)
    scan = job.result["scan"]
    assert scan["statements"] == done.scan["statements"] > 5
    assert scan["seconds"] > 0
    assert (
        scan["rows_read"]
        == Event.objects.filter(workspace=workspace, timestamp_us__lt=to_epoch_us(NOW)).count()
    )
    assert scan["rows_read_source"] == ROWS_COUNTED
