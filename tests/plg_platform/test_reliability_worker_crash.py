"""A worker SIGKILLed in the middle of an analysis or a KPI recompute, through real worker
processes: the last result stays readable, the job holds its heartbeat while it runs, the beat
sweep (``fail_stale_jobs``, sent by name to a replacement worker) fails it with a reason once
the heartbeat stops, and a rerun gives exactly the numbers of the run before the crash.

Runs on SQLite + the file-system broker and on PostgreSQL + Redis. Thresholds are shortened
through the environment of the worker processes (``JOBS_HEARTBEAT_SECONDS``,
``JOBS_RUNNING_STALE_AFTER_SECONDS``); the code paths are the production ones.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from experiments.models import ResultSnapshot
from outcomes.models import KpiValue
from plg_platform.celery import app
from plg_platform.models import BackgroundJob, JobStatus
from plg_platform.services.jobs import WORKER_LOST_MESSAGE
from tests.conftest import broker_available, require_or_skip
from tests.experiments.test_exp_analysis_support import generate, planted_experiment
from tests.outcomes.support import recent_events
from tests.worker import Worker, wait_for
from tests.worker import test_database_url as database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

HEARTBEAT_SECONDS = 0.5
STALE_AFTER_SECONDS = 3
FAST_JOBS_ENV = {
    "JOBS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
    "JOBS_RUNNING_STALE_AFTER_SECONDS": str(STALE_AFTER_SECONDS),
}


def _job(job_id: int) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=job_id)


@contextmanager
def _workers_on_a_private_queue(tmp_path: Path) -> Iterator[list[Worker]]:
    """Route every task to a queue of this test; yield a list the test appends workers to."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    workers: list[Worker] = []
    try:
        yield workers
    finally:
        for worker in workers:
            worker.stop()
        app.conf.task_default_queue = previous


def _start_worker(workers: list[Worker], tmp_path: Path) -> Worker:
    queue = app.conf.task_default_queue
    worker = Worker(queue, tmp_path / f"worker-{len(workers)}.log")
    workers.append(worker)
    worker.start(extra_env=FAST_JOBS_ENV)
    return worker


def _wait_running(job_id: int) -> None:
    deadline = time.monotonic() + 90
    while _job(job_id).status != JobStatus.RUNNING:
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.02)


@contextmanager
def _worker_blocked_mid_run(start_job: Callable[[], int], table: str) -> Iterator[int]:
    """Start the job and block the worker at a write once the job runs; yield the job's id.

    PostgreSQL: a lock on ``table``, taken before the job starts, stops the worker at its
    first write there (after the job is marked running). SQLite's write lock covers the whole
    file, so it is taken as soon as the job runs and stops the worker at its next write.
    """
    if connection.vendor == "postgresql":
        with psycopg.connect(database_url()) as holder:
            holder.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            job_id = start_job()
            _wait_running(job_id)
            yield job_id
            holder.rollback()
        return
    job_id = start_job()
    _wait_running(job_id)
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=30)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield job_id
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def _kill_mid_run_and_sweep(
    start_job: Callable[[], int], table: str, workers: list[Worker], tmp_path: Path
) -> tuple[int, float]:
    """SIGKILL the worker while the job is blocked mid-run; let a replacement worker's sweep
    fail it; return the job's id and the seconds from the kill to the failed job."""
    with _worker_blocked_mid_run(start_job, table) as job_id:
        assert _job(job_id).status == JobStatus.RUNNING
        if connection.vendor == "postgresql":
            # The heartbeat thread keeps a blocked (but alive) job fresh.
            before = _job(job_id).updated_at
            wait_for(lambda: _job(job_id).updated_at > before, timeout=10, what="a heartbeat")
        workers[0].kill()
        killed_at = time.monotonic()
    replacement = _start_worker(workers, tmp_path)
    deadline = time.monotonic() + 60
    while _job(job_id).status != JobStatus.FAILED and time.monotonic() < deadline:
        app.send_task("plg_platform.tasks.fail_stale_jobs")  # what beat sends every minute
        time.sleep(1)
    job = _job(job_id)
    assert job.status == JobStatus.FAILED, replacement.log()
    assert job.error == WORKER_LOST_MESSAGE.format(seconds=STALE_AFTER_SECONDS)
    return job_id, time.monotonic() - killed_at


def _succeeded(job_id: int, worker: Worker) -> BackgroundJob:
    wait_for(
        lambda: _job(job_id).status in (JobStatus.SUCCEEDED, JobStatus.FAILED),
        timeout=120,
        what="the job to finish",
    )
    job = _job(job_id)
    assert job.status == JobStatus.SUCCEEDED, (job.error, worker.log())
    return job


def test_a_killed_analysis_is_failed_with_a_reason_and_a_rerun_gives_the_same_numbers(
    editor, tmp_path
):
    require_or_skip(broker_available(), "Celery broker")
    experiment = planted_experiment(editor.workspace, generate(units_per_variant=(1500, 1500)))
    refresh = f"/api/v1/experiments/{experiment.key}/refresh"
    results = f"/api/v1/experiments/{experiment.key}/results"
    with _workers_on_a_private_queue(tmp_path) as workers:
        first = _start_worker(workers, tmp_path)
        good_job = _succeeded(editor.client.post(refresh).json()["job_id"], first)
        good = ResultSnapshot.objects.get(job_id=good_job.pk)

        killed_job_id, seconds = _kill_mid_run_and_sweep(
            lambda: editor.client.post(refresh).json()["job_id"],
            ResultSnapshot._meta.db_table,
            workers,
            tmp_path,
        )

        assert seconds < STALE_AFTER_SECONDS + 30
        assert not ResultSnapshot.objects.filter(job_id=killed_job_id).exists()
        readable = editor.client.get(results)
        assert readable.status_code == 200
        assert readable.json()["snapshot_id"] == good.pk

        rerun_job = _succeeded(editor.client.post(refresh).json()["job_id"], workers[-1])

    rerun = ResultSnapshot.objects.get(job_id=rerun_job.pk)
    assert rerun.outputs["metrics"] == good.outputs["metrics"]
    # The same sufficient statistics in; only the data cut-off (the time of the run) differs.
    assert {**rerun.inputs, "cutoff_us": None} == {**good.inputs, "cutoff_us": None}
    assert ResultSnapshot.objects.filter(experiment=experiment).count() == 2


def _kpi_values(workspace) -> list[tuple]:
    return list(
        KpiValue.objects.filter(workspace=workspace)
        .order_by("kpi", "period", "segment", "dimension", "date")
        .values_list(
            "kpi", "period", "segment", "dimension", "date", "value", "numerator", "denominator"
        )
    )


def test_a_killed_kpi_recompute_is_failed_with_a_reason_and_a_rerun_gives_the_same_numbers(
    editor, tmp_path
):
    require_or_skip(broker_available(), "Celery broker")
    today = recent_events(editor.workspace, days=30)
    period = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    with _workers_on_a_private_queue(tmp_path) as workers:
        first = _start_worker(workers, tmp_path)
        recompute = "/api/v1/kpis/recompute"
        _succeeded(editor.client.post(recompute, period, format="json").json()["job_id"], first)
        good = _kpi_values(editor.workspace)

        _, seconds = _kill_mid_run_and_sweep(
            lambda: editor.client.post(recompute, period, format="json").json()["job_id"],
            KpiValue._meta.db_table,
            workers,
            tmp_path,
        )

        assert seconds < STALE_AFTER_SECONDS + 30
        assert _kpi_values(editor.workspace) == good
        assert editor.client.get("/api/v1/kpis/dashboard").status_code == 200

        rerun = editor.client.post(recompute, period, format="json")
        assert rerun.status_code == 202, rerun.json()  # the failed job no longer blocks one
        _succeeded(rerun.json()["job_id"], workers[-1])

    assert _kpi_values(editor.workspace) == good
    assert {kpi for kpi, *_ in good} >= {"dau"}
