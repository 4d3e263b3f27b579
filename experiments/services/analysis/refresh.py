"""Asking for an analysis: on demand (the refresh endpoint) and on the workspace's schedule.

A request creates a background job and a ``PendingAnalysis`` row, and queues the task once the
transaction commits. The row is unique per experiment, so while an analysis is queued or
running, every further request (a second click, a concurrent API call, the schedule) joins
that job instead of starting another: two refreshes never run two analyses. A pending row
whose job stopped reporting for ``PENDING_STALE_AFTER`` (its task was lost) no longer counts,
and the next request replaces it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.utils import timezone

from experiments.models import (
    AnalysisTrigger,
    Experiment,
    ExperimentStatus,
    PendingAnalysis,
    ResultSnapshot,
)
from experiments.services.analysis.inputs import analysed_phase, partials_scope_key
from experiments.services.analysis.run import ANALYSIS_JOB_KIND
from experiments.services.queue import ANALYZE_EXPERIMENT, task_enqueue
from metrics.public import partials_invalidate
from plg_platform.errors import Conflict
from plg_platform.models import BackgroundJob, JobStatus
from plg_platform.services.jobs import job_create, job_fail

# Longer than the analysis task's hard time limit plus a queue wait: a job silent for this
# long has lost its task (a broker without redelivery, or a hard time-limit kill).
PENDING_STALE_AFTER = timedelta(minutes=30)
SUPERSEDED = "The analysis task was lost; a newer request replaced it."
NOT_ANALYSABLE = "A {status} experiment cannot be analysed."
_ANALYSABLE = (ExperimentStatus.RUNNING, ExperimentStatus.STOPPED, ExperimentStatus.CONCLUDED)


@dataclass(frozen=True)
class RefreshTicket:
    """The job that will produce the next snapshot, and whether this request joined it."""

    job: BackgroundJob
    task_id: str
    joined: bool


def _live(pending: PendingAnalysis, now: datetime) -> bool:
    job = pending.job
    return (
        job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        and job.updated_at >= now - PENDING_STALE_AFTER
    )


def _enqueue(experiment_id: int, job_id: int, task_id: str) -> None:
    task_enqueue(ANALYZE_EXPERIMENT, args=[experiment_id, job_id], task_id=task_id)


def experiment_refresh_request(
    *,
    experiment: Experiment,
    actor: AbstractBaseUser | None = None,
    trigger: str = AnalysisTrigger.MANUAL,
    now: datetime | None = None,
    rebuild: bool = False,
) -> RefreshTicket:
    """Queue an analysis of the experiment, or join the one already queued or running.

    ``rebuild``: the next analysis rebuilds the phase's partial aggregates from all events
    (an incremental refresh re-reads only the last days: events that arrived later than that
    are missed until a rebuild).
    """
    if experiment.status not in _ANALYSABLE:
        raise Conflict(NOT_ANALYSABLE.format(status=experiment.status), field="status")
    phase = analysed_phase(experiment)  # raises a 409 when there is no phase yet
    if rebuild:
        partials_invalidate(
            workspace_id=experiment.workspace_id,
            scope_key=partials_scope_key(experiment.pk, phase.pk),
        )
    now = now or timezone.now()
    for _ in range(2):  # a second pass only after losing a race for the pending row
        with transaction.atomic():
            # Write-lock the experiment's row first, so concurrent requests queue up here: a
            # row lock on PostgreSQL; on SQLite the database's write lock, taken before any
            # read (a deferred transaction that read first could not upgrade to a writer).
            Experiment.objects.filter(pk=experiment.pk).update(updated_at=F("updated_at"))
            pending = (
                PendingAnalysis.objects.select_related("job").filter(experiment=experiment).first()
            )
            if pending is not None and _live(pending, now):
                return RefreshTicket(job=pending.job, task_id=pending.task_id, joined=True)
            if pending is not None:
                job_fail(job=pending.job, error=SUPERSEDED)
                pending.delete()
            job = job_create(
                workspace=experiment.workspace,
                kind=ANALYSIS_JOB_KIND,
                subject=experiment.key,
                actor=actor,
            )
            task_id = str(uuid.uuid4())
            try:
                with transaction.atomic():
                    PendingAnalysis.objects.create(
                        experiment=experiment, job=job, task_id=task_id, trigger=trigger
                    )
            except IntegrityError:
                # A concurrent request created the row first: undo our job and join theirs.
                transaction.set_rollback(True)
                continue
            transaction.on_commit(partial(_enqueue, experiment.pk, job.pk, task_id))
            return RefreshTicket(job=job, task_id=task_id, joined=False)
    pending = PendingAnalysis.objects.select_related("job").get(experiment=experiment)
    return RefreshTicket(job=pending.job, task_id=pending.task_id, joined=True)


def experiments_due_for_analysis(*, now: datetime | None = None) -> list[Experiment]:
    """Running experiments whose last snapshot is older than their workspace's interval."""
    now = now or timezone.now()
    latest = (
        ResultSnapshot.objects.filter(experiment=OuterRef("pk"))
        .values("experiment")
        .annotate(last=Max("created_at"))
        .values("last")
    )
    candidates = (
        Experiment.objects.filter(status=ExperimentStatus.RUNNING)
        .select_related("workspace")
        .annotate(last_snapshot=Subquery(latest))
    )
    due = []
    for experiment in candidates:
        interval = timedelta(minutes=experiment.workspace.analysis_interval_minutes)
        if experiment.last_snapshot is None or experiment.last_snapshot <= now - interval:
            due.append(experiment)
    return due


def scheduled_analyses_request(*, now: datetime | None = None) -> int:
    """Request an analysis of every experiment that is due; return how many were queued."""
    queued = 0
    for experiment in experiments_due_for_analysis(now=now):
        ticket = experiment_refresh_request(
            experiment=experiment, trigger=AnalysisTrigger.SCHEDULE, now=now
        )
        if not ticket.joined:
            queued += 1
    return queued
