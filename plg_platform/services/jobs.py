"""Background-job progress: created when work is enqueued, updated by the worker.

A worker that dies (SIGKILL, OOM, a lost machine) cannot report its own death. So each worker
process beats for the jobs it is running (``jobs_heartbeat``, every ``JOBS_HEARTBEAT_SECONDS``
from a thread started in ``plg_platform/celery.py``), and the beat sweep ``jobs_fail_stale``
fails a running job whose heartbeat stopped for ``JOBS_RUNNING_STALE_AFTER_SECONDS``: minutes,
not the half hour a silent job would otherwise wait. See docs/reliability.md.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from plg_platform.models import BackgroundJob, JobStatus, Workspace


def job_create(
    *, workspace: Workspace, kind: str, subject: str = "", actor: AbstractBaseUser | None = None
) -> BackgroundJob:
    return BackgroundJob.objects.create(
        workspace=workspace,
        kind=kind,
        subject=subject,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )


# The jobs this process is running: job_start adds, job_succeed/job_fail (and the worker's
# task_postrun, for a task that ended some other way) remove.
_held_jobs: set[int] = set()
_held_jobs_lock = threading.Lock()


def _hold(job_id: int) -> None:
    with _held_jobs_lock:
        _held_jobs.add(job_id)


def _release(job_id: int) -> None:
    with _held_jobs_lock:
        _held_jobs.discard(job_id)


def jobs_release_held() -> None:
    """Forget every job this process was running (its task has ended, one way or another)."""
    with _held_jobs_lock:
        _held_jobs.clear()


def job_start(*, job: BackgroundJob, message: str = "") -> None:
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), message=message, progress=0.0
    )
    _hold(job.pk)


def job_progress(*, job: BackgroundJob, progress: float, message: str = "") -> None:
    BackgroundJob.objects.filter(pk=job.pk).update(
        progress=max(0.0, min(1.0, progress)), message=message, updated_at=timezone.now()
    )


def job_succeed(*, job: BackgroundJob, result: dict[str, Any] | None = None) -> None:
    _release(job.pk)
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        result=result or {},
        message="Done",
        finished_at=timezone.now(),
    )


def job_fail(*, job: BackgroundJob, error: str) -> None:
    _release(job.pk)
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error=error, message="Failed", finished_at=timezone.now()
    )


def jobs_heartbeat(*, now: datetime | None = None) -> int:
    """Mark the running jobs this process holds as alive; return how many were touched."""
    with _held_jobs_lock:
        held = list(_held_jobs)
    if not held:
        return 0
    return BackgroundJob.objects.filter(pk__in=held, status=JobStatus.RUNNING).update(
        updated_at=now or timezone.now()
    )


# A queued job that no worker has taken for this long lost its message (the embedded broker
# drops a message its worker fetched and then died with). Queues can be long, so be patient.
STALE_AFTER = timedelta(minutes=30)
STALE_MESSAGE = "The worker stopped reporting progress; the job was abandoned."
WORKER_LOST_MESSAGE = (
    "The worker running this job stopped (no heartbeat for {seconds} s): it was killed or "
    "lost. Nothing was stored; the last result stays. Run it again."
)


def running_stale_after() -> timedelta:
    """How long a running job may go without a heartbeat before its worker counts as dead."""
    return timedelta(seconds=settings.JOBS_RUNNING_STALE_AFTER_SECONDS)


def jobs_fail_stale(*, now: datetime | None = None) -> int:
    """Fail running jobs whose heartbeat stopped and queued jobs never taken; return how many.

    Idempotent: a job already failed or done is left alone.
    """
    now = now or timezone.now()
    stale_running = running_stale_after()
    dead = BackgroundJob.objects.filter(
        status=JobStatus.RUNNING, updated_at__lt=now - stale_running
    ).update(
        status=JobStatus.FAILED,
        error=WORKER_LOST_MESSAGE.format(seconds=int(stale_running.total_seconds())),
        message="Failed",
        finished_at=now,
    )
    lost = BackgroundJob.objects.filter(
        status=JobStatus.QUEUED, updated_at__lt=now - STALE_AFTER
    ).update(status=JobStatus.FAILED, error=STALE_MESSAGE, message="Failed", finished_at=now)
    return dead + lost
