"""Celery tasks of the KPI library: thin, they take ids, load, and call one service.

Every task here is safe to repeat: KPI steps replace their cached rows with values computed
from the events as they are. So they acknowledge late (a worker killed mid-run means a
redelivery, not a lost refresh) and retry only errors a retry can cure. Names keep the
``outcomes.tasks.`` prefix the beat schedule and queued messages use.
"""

from __future__ import annotations

from celery import shared_task

from outcomes.kpis.recompute import kpi_recompute_run
from outcomes.kpis.refresh import kpis_refresh
from plg_platform.models import BackgroundJob, JobStatus, Workspace
from plg_platform.retries import (
    MAX_RETRIES,
    RETRY_TRANSIENT_DATABASE_ERRORS,
    TRANSIENT_DATABASE_ERRORS,
)

# An incremental refresh is a few days of aggregates; the first one of a large workspace
# computes up to 400 days. The soft limit raises inside the task: the step's transaction rolls
# back, earlier steps keep their fresh rows, and the next scheduled refresh starts over from
# the same ``computed_through``. The hard limit kills the child if even that hangs.
KPI_REFRESH_SOFT_LIMIT_SECONDS = 30 * 60
KPI_REFRESH_HARD_LIMIT_SECONDS = 32 * 60
# A recompute on demand covers up to two years.
KPI_RECOMPUTE_SOFT_LIMIT_SECONDS = 60 * 60
KPI_RECOMPUTE_HARD_LIMIT_SECONDS = 62 * 60
# Queuing one task per workspace or key result takes a moment.
ENQUEUE_SOFT_LIMIT_SECONDS = 60
ENQUEUE_HARD_LIMIT_SECONDS = 90


@shared_task(
    name="outcomes.tasks.refresh_workspace_kpis",
    acks_late=True,  # idempotent: see the module docstring
    reject_on_worker_lost=True,  # a killed worker's refresh is redelivered, not dropped
    soft_time_limit=KPI_REFRESH_SOFT_LIMIT_SECONDS,
    time_limit=KPI_REFRESH_HARD_LIMIT_SECONDS,
    **RETRY_TRANSIENT_DATABASE_ERRORS,
)
def refresh_workspace_kpis(workspace_id: int) -> int:
    """Bring one workspace's KPI cache up to date; return how many rows were written."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:  # deleted since the task was queued
        return 0
    return kpis_refresh(workspace=workspace).rows_written


@shared_task(
    name="outcomes.tasks.refresh_kpis_of_all_workspaces",
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
    name="outcomes.tasks.recompute_kpis",
    bind=True,
    acks_late=True,  # idempotent: a redelivered recompute writes the same rows again
    reject_on_worker_lost=True,
    soft_time_limit=KPI_RECOMPUTE_SOFT_LIMIT_SECONDS,
    time_limit=KPI_RECOMPUTE_HARD_LIMIT_SECONDS,
    **RETRY_TRANSIENT_DATABASE_ERRORS,
)
def recompute_kpis(self, job_id: int) -> int:
    """Recompute the period of a KPI recompute job, with progress; return rows written."""
    job = BackgroundJob.objects.select_related("workspace").filter(pk=job_id).first()
    if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        return 0  # deleted, or a redelivery of a job already finished
    # A transient error is retried (autoretry_for) while tries are left: the job stays running.
    retry_on = TRANSIENT_DATABASE_ERRORS if self.request.retries < MAX_RETRIES else ()
    return kpi_recompute_run(job=job, retry_on=retry_on).rows_written
