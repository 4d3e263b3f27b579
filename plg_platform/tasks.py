"""Celery tasks of the platform app: thin, they call services."""

from __future__ import annotations

from celery import shared_task

from plg_platform.services.jobs import jobs_fail_stale

STALE_JOBS_SOFT_LIMIT_SECONDS = 60
STALE_JOBS_HARD_LIMIT_SECONDS = 90


@shared_task(
    # Idempotent: failing jobs that are already failed changes nothing, so a redelivery is safe.
    acks_late=True,
    soft_time_limit=STALE_JOBS_SOFT_LIMIT_SECONDS,
    time_limit=STALE_JOBS_HARD_LIMIT_SECONDS,
)
def fail_stale_jobs() -> int:
    """Mark jobs whose worker died (no progress for too long) as failed; return how many."""
    return jobs_fail_stale()
