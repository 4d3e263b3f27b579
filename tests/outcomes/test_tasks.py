"""The outcomes app's task options and beat entries, as documented in docs/outcomes.md."""

from __future__ import annotations

from django.conf import settings as django_settings

from outcomes.kpis import tasks as kpi_tasks
from outcomes.okrs import tasks as okr_tasks
from plg_platform import retries


def test_task_options_are_the_documented_ones():
    for task in (
        kpi_tasks.refresh_workspace_kpis,
        kpi_tasks.recompute_kpis,
        okr_tasks.compute_key_result_check_in,
    ):
        assert task.acks_late
        assert task.reject_on_worker_lost
        assert task.autoretry_for == retries.TRANSIENT_DATABASE_ERRORS
        assert task.max_retries == retries.MAX_RETRIES
        assert task.soft_time_limit < task.time_limit
    assert kpi_tasks.recompute_kpis.soft_time_limit == kpi_tasks.KPI_RECOMPUTE_SOFT_LIMIT_SECONDS
    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "outcomes.tasks.refresh_kpis_of_all_workspaces",
        "outcomes.tasks.compute_key_result_check_ins",
    } <= schedule
