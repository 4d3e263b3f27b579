"""Outcome tasks: the recompute flow from the API through the task (eagerly, on commit), the
beat entries, key-result check-ins, retries of transient errors, and one recompute through a
real Celery worker process."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError

from outcomes import tasks
from outcomes.models import CheckIn, KpiSettings, KpiValue
from outcomes.services import kpis as kpi_service
from outcomes.services.okrs import key_result_create, objective_create
from plg_platform.celery import app as celery_app
from plg_platform.models import BackgroundJob, JobStatus
from tests.conftest import make_actor
from tests.outcomes.test_kpi_library import Data, store
from tests.worker import wait_for


def _recent_events(workspace, days: int = 6) -> date:
    """A few users active around noon (UTC, the workspace's zone) of each of the last ``days``
    days; return today."""
    today = datetime.now(tz=UTC).date()
    data = Data()
    for d in range(days):
        noon = datetime.combine(today - timedelta(days=d), time(12), tzinfo=UTC)
        for u in range(3 + d):
            data.add(f"u{u}", "session", noon + timedelta(minutes=u))
        data.add(f"new{d}", "signed_up", noon - timedelta(minutes=1))
    store(workspace, data)
    return today


@pytest.fixture
def eager():
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.mark.django_db
def test_a_recompute_request_runs_its_task_on_commit(
    eager, editor, django_capture_on_commit_callbacks
):
    today = _recent_events(editor.workspace)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = editor.client.post(
            "/api/v1/kpis/recompute",
            {"from": (today - timedelta(days=3)).isoformat(), "to": today.isoformat()},
            format="json",
        )
    assert response.status_code == 202, response.json()
    assert len(callbacks) == 1
    job = BackgroundJob.objects.get(pk=response.json()["job_id"])
    assert (job.status, job.progress, job.message) == (JobStatus.SUCCEEDED, 1.0, "Done")
    dau = KpiValue.objects.get(workspace=editor.workspace, kpi="dau", date=today, segment="")
    assert dau.value == 4  # u0, u1, u2 and new0
    assert editor.client.get(response.json()["status_url"]).json()["status"] == "succeeded"


@pytest.mark.django_db
def test_the_beat_refresh_covers_every_workspace_with_events(eager, workspace, other_workspace):
    today = _recent_events(workspace)
    assert tasks.refresh_kpis_of_all_workspaces() == 1
    settings = KpiSettings.objects.get(workspace=workspace)
    assert settings.computed_through == today
    assert KpiValue.objects.filter(workspace=workspace, kpi="mau", date=today).exists()
    assert not KpiValue.objects.filter(workspace=other_workspace).exists()
    # A second refresh only recomputes the late-event window.
    assert tasks.refresh_workspace_kpis(workspace.pk) > 0
    assert tasks.refresh_workspace_kpis(10_000_000) == 0  # a deleted workspace


@pytest.mark.django_db
def test_key_result_check_ins_are_computed_for_periods_under_way(eager, workspace, make_metric):
    today = _recent_events(workspace)
    metric = make_metric(
        workspace, "d1", type="retention", event="", window_days=None, retention_start_day=0
    )
    current = objective_create(
        workspace=workspace,
        title="Now",
        period_start=today - timedelta(days=10),
        period_end=today + timedelta(days=10),
    )
    finished = objective_create(
        workspace=workspace,
        title="Long ago",
        period_start=date(2020, 1, 1),
        period_end=date(2020, 3, 31),
    )
    live = key_result_create(
        objective=current, title="Day-0 activity", metric_key=metric.key, target=2.0
    )
    key_result_create(
        objective=finished,
        title="Old",
        metric_key=metric.key,
        target=2.0,
        baseline=0.5,
        baseline_reason="r",
    )
    assert tasks.compute_key_result_check_ins() == 1
    check_in = CheckIn.objects.get(key_result=live)
    assert (check_in.date, check_in.source) == (today, "computed")
    assert tasks.compute_key_result_check_in(10_000_000) is False


@pytest.mark.django_db
def test_a_transient_database_error_is_retried_and_the_job_still_succeeds(
    eager, workspace, monkeypatch
):
    today = _recent_events(workspace)
    job = kpi_service.kpi_recompute_request(workspace=workspace, date_from=today, date_to=today)
    real = kpi_service.daily_rows
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(kpi_service, "daily_rows", flaky)
    monkeypatch.setattr(tasks.recompute_kpis, "retry_backoff", False)
    tasks.recompute_kpis.apply(args=[job.pk], throw=False)  # eager retries run inline
    job.refresh_from_db()
    assert calls["n"] == 2
    assert (job.status, job.progress) == (JobStatus.SUCCEEDED, 1.0)


@pytest.mark.django_db
def test_a_finished_job_is_not_run_again(workspace):
    job = kpi_service.kpi_recompute_request(
        workspace=workspace, date_from=date(2026, 1, 1), date_to=date(2026, 1, 1)
    )
    BackgroundJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    assert tasks.recompute_kpis.apply(args=[job.pk]).get() == 0
    assert tasks.recompute_kpis.apply(args=[10_000_000]).get() == 0


def test_task_options_are_the_documented_ones():
    for task in (
        tasks.refresh_workspace_kpis,
        tasks.recompute_kpis,
        tasks.compute_key_result_check_in,
    ):
        assert task.acks_late
        assert task.reject_on_worker_lost
        assert task.autoretry_for == tasks.TRANSIENT_DATABASE_ERRORS
        assert task.max_retries == tasks.MAX_RETRIES
        assert task.soft_time_limit < task.time_limit
    assert tasks.recompute_kpis.soft_time_limit == tasks.KPI_RECOMPUTE_SOFT_LIMIT_SECONDS
    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "outcomes.tasks.refresh_kpis_of_all_workspaces",
        "outcomes.tasks.compute_key_result_check_ins",
    } <= schedule


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_recompute_to_success(celery_worker_process, workspace):
    editor = make_actor(workspace)
    today = _recent_events(workspace)
    response = editor.client.post(
        "/api/v1/kpis/recompute",
        {"from": (today - timedelta(days=5)).isoformat(), "to": today.isoformat()},
        format="json",
    )
    assert response.status_code == 202, response.json()
    job_id = response.json()["job_id"]

    def finished() -> bool:
        return BackgroundJob.objects.get(pk=job_id).status in (
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
        )

    wait_for(finished, timeout=120, what="the worker to finish the recompute")
    job = BackgroundJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.error, celery_worker_process.log())
    assert job.progress == 1.0
    assert job.started_at is not None
    assert job.finished_at >= job.started_at
    assert KpiValue.objects.get(workspace=workspace, kpi="dau", date=today, segment="").value == 4
