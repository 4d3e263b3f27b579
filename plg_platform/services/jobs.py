"""Background-job progress: created when work is enqueued, updated by the worker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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


def job_start(*, job: BackgroundJob, message: str = "") -> None:
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), message=message, progress=0.0
    )


def job_progress(*, job: BackgroundJob, progress: float, message: str = "") -> None:
    BackgroundJob.objects.filter(pk=job.pk).update(
        progress=max(0.0, min(1.0, progress)), message=message, updated_at=timezone.now()
    )


def job_succeed(*, job: BackgroundJob, result: dict[str, Any] | None = None) -> None:
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        result=result or {},
        message="Done",
        finished_at=timezone.now(),
    )


def job_fail(*, job: BackgroundJob, error: str) -> None:
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error=error, message="Failed", finished_at=timezone.now()
    )


# A running job that has not reported progress for this long lost its worker.
STALE_AFTER = timedelta(minutes=30)
STALE_MESSAGE = "The worker stopped reporting progress; the job was abandoned."


def jobs_fail_stale(*, now: datetime | None = None) -> int:
    """Fail queued or running jobs with no progress for ``STALE_AFTER``; return how many."""
    now = now or timezone.now()
    return BackgroundJob.objects.filter(
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING], updated_at__lt=now - STALE_AFTER
    ).update(status=JobStatus.FAILED, error=STALE_MESSAGE, message="Failed", finished_at=now)
