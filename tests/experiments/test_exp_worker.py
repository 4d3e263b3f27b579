"""Analyses run by a real Celery worker process: progress, crash and redelivery, concurrency.

Run on PostgreSQL + Redis for the real thing; they also run on SQLite with the file-system
broker. That broker has no acknowledgements (a message is gone once fetched), so after a crash
the test publishes the same message again, which is what Redis does on its own after the
visibility timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from experiments.models import PendingAnalysis, ResultSnapshot
from experiments.services.analysis.refresh import experiment_refresh_request
from experiments.services.analysis.run import experiment_analyze, snapshot_store
from experiments.tasks import analyze_experiment
from plg_platform.models import BackgroundJob, JobStatus
from tests.experiments.test_exp_analysis_support import CUTOFF, generate, planted_experiment
from tests.worker import Worker, wait_for
from tests.worker import test_database_url as database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The replacement worker restores unacknowledged messages older than this (Redis only).
TEST_VISIBILITY_TIMEOUT_SECONDS = 2


def _on_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis")


def _job(job_id: int) -> BackgroundJob:
    return BackgroundJob.objects.get(pk=job_id)


@contextmanager
def _snapshot_writes_held() -> Iterator[None]:
    """Make the worker wait where it writes: on PostgreSQL, at the snapshot's INSERT (after
    every statistic is computed); on SQLite, whose write lock covers the whole database, at
    its first write (the job's start). Uses its own connection, not the test's."""
    if connection.vendor == "postgresql":
        with psycopg.connect(database_url()) as holder:
            holder.execute(
                f"LOCK TABLE {ResultSnapshot._meta.db_table} IN SHARE ROW EXCLUSIVE MODE"
            )
            yield
            holder.rollback()
        return
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def _wait_until_the_worker_is_blocked(job_id: int, worker: Worker) -> None:
    if connection.vendor == "postgresql":
        wait_for(lambda: _job(job_id).progress >= 0.95, what="the worker to reach the INSERT")
    else:
        wait_for(lambda: "analyze_experiment" in worker.log(), what="the worker to take the task")
    time.sleep(1.0)  # let it run into the lock


def test_refresh_through_a_real_worker_ends_with_a_snapshot_and_full_progress(
    celery_worker_process, editor
):
    experiment = planted_experiment(editor.workspace, generate(units_per_variant=(1500, 1500)))

    response = editor.client.post(f"/api/v1/experiments/{experiment.key}/refresh")

    assert response.status_code == 202
    job_id = response.json()["job_id"]
    wait_for(lambda: _job(job_id).status == JobStatus.SUCCEEDED, what="the analysis")
    job = _job(job_id)
    snapshot = ResultSnapshot.objects.get(experiment=experiment)
    assert (job.progress, job.result["snapshot_id"]) == (1.0, snapshot.pk)
    # The job also says how the metrics were computed (a first refresh builds from all events).
    assert job.result["refresh"]["mode"] == "rebuild"
    assert job.result["refresh"]["statements"] > 0
    assert snapshot.job_id == job_id
    activated = next(m for m in snapshot.outputs["metrics"] if m["role"] == "primary")
    assert [v["units"] for v in activated["variants"]] == [1500, 1500]
    assert not PendingAnalysis.objects.exists()


def test_a_worker_killed_mid_analysis_keeps_the_last_snapshot_and_the_task_completes(
    celery_worker_process, editor, tmp_path, monkeypatch
):
    experiment = planted_experiment(editor.workspace, generate(units_per_variant=(1500, 1500)))
    computed = experiment_analyze(experiment=experiment, cutoff=CUTOFF, sync_exposures=False)
    good = snapshot_store(experiment=experiment, computed=computed, run_seconds=0.1)
    queued: list[tuple] = []
    monkeypatch.setattr(
        "experiments.services.analysis.refresh._enqueue", lambda *args: queued.append(args)
    )
    ticket = experiment_refresh_request(experiment=experiment)
    ((experiment_id, job_id, task_id),) = queued

    with _snapshot_writes_held():
        analyze_experiment.apply_async(args=[experiment_id, job_id], task_id=task_id)
        _wait_until_the_worker_is_blocked(job_id, celery_worker_process)
        celery_worker_process.kill()

    assert list(ResultSnapshot.objects.filter(experiment=experiment)) == [good]
    assert _job(ticket.job.pk).status != JobStatus.SUCCEEDED
    if not _on_redis():
        analyze_experiment.apply_async(args=[experiment_id, job_id], task_id=task_id)
    replacement = Worker(celery_worker_process.queue, tmp_path / "replacement.log")
    try:
        time.sleep(TEST_VISIBILITY_TIMEOUT_SECONDS)
        replacement.start(
            extra_env={"CELERY_VISIBILITY_TIMEOUT": str(TEST_VISIBILITY_TIMEOUT_SECONDS)}
        )
        wait_for(
            lambda: _job(job_id).status == JobStatus.SUCCEEDED,
            timeout=90,
            what="the redelivered analysis",
        )
    finally:
        replacement.stop()

    snapshots = list(ResultSnapshot.objects.filter(experiment=experiment).order_by("id"))
    assert len(snapshots) == 2
    assert snapshots[0] == good
    redone = snapshots[1]
    assert redone.job_id == job_id
    assert {m["key"] for m in redone.outputs["metrics"]} == {
        m["key"] for m in good.outputs["metrics"]
    }
    assert redone.health["srm"]["counts"] == good.health["srm"]["counts"]
    assert _job(job_id).progress == 1.0


def test_two_concurrent_refresh_requests_run_one_analysis(celery_worker_process, editor):
    experiment = planted_experiment(editor.workspace, generate(units_per_variant=(1500, 1500)))
    start = threading.Barrier(2)
    answers: list[dict] = []

    def refresh() -> None:
        client = APIClient()  # one client per thread, the same user
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {editor.token}")
        try:
            start.wait()
            response = client.post(f"/api/v1/experiments/{experiment.key}/refresh")
            answers.append({"http": response.status_code, **response.json()})
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a["http"] for a in answers] == [202, 202]
    assert answers[0]["job_id"] == answers[1]["job_id"]
    assert sorted(a["joined"] for a in answers) == [False, True]
    job_id = answers[0]["job_id"]
    wait_for(lambda: _job(job_id).status == JobStatus.SUCCEEDED, what="the analysis")
    assert ResultSnapshot.objects.filter(experiment=experiment).count() == 1
    assert BackgroundJob.objects.filter(subject=experiment.key).count() == 1
