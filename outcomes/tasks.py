"""Celery tasks of outcomes: thin, they take ids, load, and call one service.

Every task here is safe to repeat: KPI steps replace their cached rows with values computed
from the events as they are, and a key result's computed check-in is one row per day, updated
in place. So all of them acknowledge late (a worker killed mid-run means a redelivery, not a
lost refresh), and retry only errors that a retry can cure.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from outcomes.models import KeyResult
from outcomes.services.kpis import kpi_recompute_run, kpis_refresh
from outcomes.services.okrs import key_result_check_in_compute
from plg_platform.models import BackgroundJob, JobStatus, Workspace

# A lost connection, a deadlock, a failover or a locked SQLite file is worth a few tries;
# anything else is a bug (or bad data) that retrying would only repeat.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
MAX_RETRIES = 4
BACKOFF_MAX_SECONDS = 5 * 60
# An incremental refresh is a few days of aggregates; the first one of a large workspace
# computes up to 400 days. The soft limit raises inside the task: the step's transaction rolls
# back, earlier steps keep their fresh rows, and the next scheduled refresh starts over from
# the same ``computed_through``. The hard limit kills the child if even that hangs.
KPI_REFRESH_SOFT_LIMIT_SECONDS = 30 * 60
KPI_REFRESH_HARD_LIMIT_SECONDS = 32 * 60
# A recompute on demand covers up to two years.
KPI_RECOMPUTE_SOFT_LIMIT_SECONDS = 60 * 60
KPI_RECOMPUTE_HARD_LIMIT_SECONDS = 62 * 60
# One check-in is one metric statement over one cohort.
CHECK_IN_SOFT_LIMIT_SECONDS = 5 * 60
CHECK_IN_HARD_LIMIT_SECONDS = 6 * 60
# Queuing one task per workspace or key result takes a moment.
ENQUEUE_SOFT_LIMIT_SECONDS = 60
ENQUEUE_HARD_LIMIT_SECONDS = 90
# Key results keep getting a final check-in for this many days after their period ends, so
# late events reach the last value too.
CHECK_IN_AFTER_PERIOD_DAYS = 3

_RETRYING = {
    "autoretry_for": TRANSIENT_DATABASE_ERRORS,
    "max_retries": MAX_RETRIES,
    "retry_backoff": True,
    "retry_backoff_max": BACKOFF_MAX_SECONDS,
    "retry_jitter": True,
}


@shared_task(
    acks_late=True,  # idempotent: see the module docstring
    reject_on_worker_lost=True,  # a killed worker's refresh is redelivered, not dropped
    soft_time_limit=KPI_REFRESH_SOFT_LIMIT_SECONDS,
    time_limit=KPI_REFRESH_HARD_LIMIT_SECONDS,
    **_RETRYING,
)
def refresh_workspace_kpis(workspace_id: int) -> int:
    """Bring one workspace's KPI cache up to date; return how many rows were written."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:  # deleted since the task was queued
        return 0
    return kpis_refresh(workspace=workspace).rows_written


@shared_task(
    acks_late=True,  # only enqueues; a duplicate run enqueues harmless duplicate refreshes
    soft_time_limit=ENQUEUE_SOFT_LIMIT_SECONDS,
    time_limit=ENQUEUE_HARD_LIMIT_SECONDS,
)
def refresh_kpis_of_all_workspaces() -> int:
    """Queue a KPI refresh for every workspace with events (for the beat schedule)."""
    ids = list(
        Workspace.objects.filter(events__isnull=False).distinct().values_list("pk", flat=True)
    )
    for workspace_id in ids:
        refresh_workspace_kpis.delay(workspace_id)
    return len(ids)


@shared_task(
    bind=True,
    acks_late=True,  # idempotent: a redelivered recompute writes the same rows again
    reject_on_worker_lost=True,
    soft_time_limit=KPI_RECOMPUTE_SOFT_LIMIT_SECONDS,
    time_limit=KPI_RECOMPUTE_HARD_LIMIT_SECONDS,
    **_RETRYING,
)
def recompute_kpis(self, job_id: int) -> int:
    """Recompute the period of a KPI recompute job, with progress; return rows written."""
    job = BackgroundJob.objects.select_related("workspace").filter(pk=job_id).first()
    if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        return 0  # deleted, or a redelivery of a job already finished
    # A transient error is retried (autoretry_for) while tries are left: the job stays running.
    retry_on = TRANSIENT_DATABASE_ERRORS if self.request.retries < MAX_RETRIES else ()
    return kpi_recompute_run(job=job, retry_on=retry_on).rows_written


@shared_task(
    acks_late=True,  # idempotent: one computed check-in per key result and day, updated
    reject_on_worker_lost=True,
    soft_time_limit=CHECK_IN_SOFT_LIMIT_SECONDS,
    time_limit=CHECK_IN_HARD_LIMIT_SECONDS,
    **_RETRYING,
)
def compute_key_result_check_in(key_result_id: int) -> bool:
    """Compute a key result's value for today (baseline first, if due); return whether a
    check-in was written."""
    key_result = (
        KeyResult.objects.select_related("objective", "workspace", "metric")
        .filter(pk=key_result_id)
        .first()
    )
    if key_result is None:
        return False
    return key_result_check_in_compute(key_result=key_result) is not None


@shared_task(
    acks_late=True,  # only enqueues (see above)
    soft_time_limit=ENQUEUE_SOFT_LIMIT_SECONDS,
    time_limit=ENQUEUE_HARD_LIMIT_SECONDS,
)
def compute_key_result_check_ins() -> int:
    """Queue a check-in for every key result whose period is under way or just ended."""
    today = timezone.now().date()
    # Compared in UTC: a day of slack on each side covers every workspace's time zone; the
    # service itself decides in the workspace's zone whether the day is in the period.
    ids = list(
        KeyResult.objects.filter(
            objective__period_start__lte=today + timedelta(days=1),
            objective__period_end__gte=today - timedelta(days=CHECK_IN_AFTER_PERIOD_DAYS + 1),
        ).values_list("pk", flat=True)
    )
    for key_result_id in ids:
        compute_key_result_check_in.delay(key_result_id)
    return len(ids)
