"""Platform tasks, run by a real Celery worker process."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from plg_platform.models import BackgroundJob, JobStatus
from plg_platform.services.jobs import STALE_AFTER, job_create
from plg_platform.tasks import fail_stale_jobs
from tests.worker import wait_for

pytestmark = pytest.mark.worker


@pytest.mark.django_db(transaction=True)
def test_worker_fails_jobs_abandoned_by_a_dead_worker(celery_worker_process, workspace):
    stale = job_create(workspace=workspace, kind="analysis")
    fresh = job_create(workspace=workspace, kind="analysis")
    BackgroundJob.objects.filter(pk=stale.pk).update(
        status=JobStatus.RUNNING, updated_at=timezone.now() - STALE_AFTER - timedelta(minutes=1)
    )

    fail_stale_jobs.delay()

    wait_for(
        lambda: BackgroundJob.objects.get(pk=stale.pk).status == JobStatus.FAILED,
        what="the worker to fail the stale job",
    )
    assert BackgroundJob.objects.get(pk=fresh.pk).status == JobStatus.QUEUED
