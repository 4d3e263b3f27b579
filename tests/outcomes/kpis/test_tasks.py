"""KPI tasks: the recompute flow from the API through the task (eagerly, on commit), the beat
refresh, retries of transient errors, and one recompute through a real Celery worker process."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import OperationalError

from outcomes.kpis import refresh as kpi_refresh
from outcomes.kpis import tasks as kpi_tasks
from outcomes.kpis.models import KpiSettings, KpiValue
from outcomes.kpis.recompute import kpi_recompute_request
from plg_platform.models import BackgroundJob, JobStatus
from tests.conftest import make_actor
from tests.outcomes.support import recent_events
from tests.worker import wait_for


@pytest.mark.django_db
def test_a_recompute_request_runs_its_task_on_commit(
    eager, editor, django_capture_on_commit_callbacks
):
    today = recent_events(editor.workspace)
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
    today = recent_events(workspace)
    assert kpi_tasks.refresh_kpis_of_all_workspaces() == 1
    settings = KpiSettings.objects.get(workspace=workspace)
    assert settings.computed_through == today
    assert KpiValue.objects.filter(workspace=workspace, kpi="mau", date=today).exists()
    assert not KpiValue.objects.filter(workspace=other_workspace).exists()
    # A second refresh only recomputes the late-event window.
    assert kpi_tasks.refresh_workspace_kpis(workspace.pk) > 0
    assert kpi_tasks.refresh_workspace_kpis(10_000_000) == 0  # a deleted workspace


@pytest.mark.django_db
def test_a_transient_database_error_is_retried_and_the_job_still_succeeds(
    eager, workspace, monkeypatch
):
    today = recent_events(workspace)
    job = kpi_recompute_request(workspace=workspace, date_from=today, date_to=today)
    real = kpi_refresh.daily_rows
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(kpi_refresh, "daily_rows", flaky)
    monkeypatch.setattr(kpi_tasks.recompute_kpis, "retry_backoff", False)
    kpi_tasks.recompute_kpis.apply(args=[job.pk], throw=False)  # eager retries run inline
    job.refresh_from_db()
    assert calls["n"] == 2
    assert (job.status, job.progress) == (JobStatus.SUCCEEDED, 1.0)


@pytest.mark.django_db
def test_a_finished_job_is_not_run_again(workspace):
    job = kpi_recompute_request(
        workspace=workspace, date_from=date(2026, 1, 1), date_to=date(2026, 1, 1)
    )
    BackgroundJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    assert kpi_tasks.recompute_kpis.apply(args=[job.pk]).get() == 0
    assert kpi_tasks.recompute_kpis.apply(args=[10_000_000]).get() == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_recompute_to_success(celery_worker_process, workspace):
    editor = make_actor(workspace)
    today = recent_events(workspace)
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
