"""A recompute of a period on demand: requested as a background job (one at a time per
workspace), run by a task with progress.
"""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from metrics.public import engine_for_workspace
from outcomes.kpis.refresh import RefreshResult, Step, first_event_day, plan_steps, run_steps
from outcomes.kpis.settings import kpi_settings_get
from plg_platform.clock import local_today
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import BackgroundJob, JobStatus, Workspace
from plg_platform.services.audit import audit_record
from plg_platform.services.jobs import job_create, job_fail, job_progress, job_start, job_succeed
from plg_platform.services.queue import task_enqueue_on_commit

# The name ``outcomes/kpis/tasks.py`` registers the recompute task under.
RECOMPUTE_TASK = "outcomes.tasks.recompute_kpis"

RECOMPUTE_JOB_KIND = "kpi_recompute"
MAX_RECOMPUTE_DAYS = 731
RANGE_REVERSED = "'from' must be on or before 'to'."
RANGE_TOO_LONG = "Recompute at most {days} days at a time."
RANGE_IN_FUTURE = "'to' cannot be after today in the workspace's time zone ({today})."
RECOMPUTE_RUNNING = "A KPI recompute is already queued or running for this workspace (job {id})."


# --- on demand: a recompute of a period with progress --------------------------------------
def kpi_recompute_running(*, workspace: Workspace) -> BackgroundJob | None:
    """Return the workspace's recompute that is queued or running, if any (one at a time)."""
    return (
        BackgroundJob.objects.filter(
            workspace=workspace,
            kind=RECOMPUTE_JOB_KIND,
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        )
        .order_by("-created_at")
        .first()
    )


def _recompute_range(workspace: Workspace, date_from: date, date_to: date, now: datetime) -> None:
    if date_from > date_to:
        raise ValidationFailed(RANGE_REVERSED, field="from")
    if (date_to - date_from).days >= MAX_RECOMPUTE_DAYS:
        raise ValidationFailed(RANGE_TOO_LONG.format(days=MAX_RECOMPUTE_DAYS), field="to")
    today = local_today(workspace, now)
    if date_to > today:
        raise ValidationFailed(RANGE_IN_FUTURE.format(today=today.isoformat()), field="to")


@transaction.atomic
def kpi_recompute_request(
    *,
    workspace: Workspace,
    date_from: date,
    date_to: date,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> BackgroundJob:
    """Validate a recompute of [date_from, date_to], create its job and queue the task once
    the transaction commits. One recompute per workspace at a time."""
    now = now or timezone.now()
    _recompute_range(workspace, date_from, date_to, now)
    running = kpi_recompute_running(workspace=workspace)
    if running is not None:
        raise Conflict(RECOMPUTE_RUNNING.format(id=running.pk), field="job")
    job = job_create(
        workspace=workspace,
        kind=RECOMPUTE_JOB_KIND,
        subject=f"{date_from.isoformat()}..{date_to.isoformat()}",
        actor=actor,
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        action="kpi.recompute",
        obj=job,
        changes={"from": date_from.isoformat(), "to": date_to.isoformat()},
    )
    task_enqueue_on_commit(RECOMPUTE_TASK, args=[job.pk])
    return job


def kpi_recompute_run(
    *,
    job: BackgroundJob,
    now: datetime | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
) -> RefreshResult:
    """Recompute the job's period, reporting progress after each step.

    An error fails the job, except one of ``retry_on`` (the caller will retry it): then the job
    stays running with the error as its message. Idempotent: a redelivered or retried job
    recomputes the same rows from the same events.
    """
    now = now or timezone.now()
    first_text, last_text = job.subject.split("..")
    first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    workspace = job.workspace
    settings = kpi_settings_get(workspace=workspace)
    engine = engine_for_workspace(workspace)  # the app database unless routed elsewhere
    floor = first_event_day(workspace, engine) or first
    steps = plan_steps(settings=settings, first_day=first, last_day=last, floor=min(floor, first))
    job_start(job=job, message=f"Recomputing {len(steps)} steps")

    def progress(done: int, total: int, step: Step) -> None:
        job_progress(job=job, progress=done / total, message=f"{step.family} {step.first}")

    try:
        result = run_steps(
            settings=settings, steps=steps, now=now, on_progress=progress, engine=engine
        )
    except Exception as error:
        text = f"{type(error).__name__}: {error}"
        if isinstance(error, retry_on):
            job_progress(job=job, progress=0.0, message=f"Retrying after {text}"[:500])
        else:
            job_fail(job=job, error=text)
        raise
    result.days = (first, last)
    job_succeed(
        job=job,
        result={
            "steps": result.steps,
            "rows_written": result.rows_written,
            "from": first.isoformat(),
            "to": last.isoformat(),
            # What it cost: statements, seconds, rows read (and how those were known).
            "scan": result.scan,
        },
    )
    return result
