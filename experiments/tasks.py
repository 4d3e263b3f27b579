"""Celery tasks of experiments: thin, they take ids, load, and call one service."""

from __future__ import annotations

import random

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from experiments.models import Experiment
from experiments.services.analysis.refresh import scheduled_analyses_request
from experiments.services.analysis.run import AnalysisBusy, analysis_job_fail, analysis_job_run
from experiments.services.exposures import (
    exposures_sync_from_events,
    exposures_sync_request_running,
)
from experiments.services.reminders import check_in_reminders_send
from experiments.services.webhooks import webhook_deliveries_retry_due, webhook_delivery_attempt

# One sync is one INSERT ... SELECT over the events received since the last one; minutes are
# plenty even for millions of events. The soft limit raises inside the task, so the
# transaction rolls back and the watermark stays where it was; the hard limit kills the child.
EXPOSURE_SYNC_SOFT_LIMIT_SECONDS = 10 * 60
EXPOSURE_SYNC_HARD_LIMIT_SECONDS = 11 * 60
# A lost connection, a deadlock or a failover is worth a few tries; anything else is a bug
# that retrying would only repeat.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
EXPOSURE_SYNC_MAX_RETRIES = 5
EXPOSURE_SYNC_BACKOFF_MAX_SECONDS = 5 * 60
# Queuing one task per running experiment takes a moment.
ENQUEUE_SOFT_LIMIT_SECONDS = 60
ENQUEUE_HARD_LIMIT_SECONDS = 90


@shared_task(
    # The merge is idempotent and commutative (earliest exposure wins, "excluded" only ever
    # turns on), and the watermark only moves forward after the rows commit. So a task that is
    # redelivered, or runs beside another sync of the same experiment, converges on the same
    # rows: acknowledging late is safe, and a worker killed mid-run loses nothing.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_DATABASE_ERRORS,
    max_retries=EXPOSURE_SYNC_MAX_RETRIES,
    retry_backoff=True,
    retry_backoff_max=EXPOSURE_SYNC_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    soft_time_limit=EXPOSURE_SYNC_SOFT_LIMIT_SECONDS,
    time_limit=EXPOSURE_SYNC_HARD_LIMIT_SECONDS,
)
def sync_exposures(experiment_id: int, full: bool = False) -> int:
    """Merge new ``$exposure`` events of one experiment; return how many units were written."""
    experiment = Experiment.objects.filter(pk=experiment_id).first()
    if experiment is None:  # deleted since the task was queued: nothing left to do
        return 0
    return exposures_sync_from_events(experiment=experiment, full=full).units_written


@shared_task(
    # Only enqueues; a duplicate run enqueues duplicate syncs, which are harmless (see above).
    acks_late=True,
    soft_time_limit=ENQUEUE_SOFT_LIMIT_SECONDS,
    time_limit=ENQUEUE_HARD_LIMIT_SECONDS,
)
def sync_exposures_of_running_experiments() -> int:
    """Queue an exposure sync for every running experiment (for the beat schedule)."""
    return exposures_sync_request_running()


# --- Analysis ------------------------------------------------------------------------------------

# An analysis is a few SQL passes over the exposed units' events (about a minute for a million
# units on PostgreSQL) and milliseconds of statistics. The soft limit raises inside the run,
# which fails the job and stores nothing (the last good snapshot stays); the hard limit kills
# the child if even that hangs.
ANALYSIS_SOFT_LIMIT_SECONDS = 15 * 60
ANALYSIS_HARD_LIMIT_SECONDS = 16 * 60
ANALYSIS_MAX_RETRIES = 5
ANALYSIS_BACKOFF_MAX_SECONDS = 5 * 60
# Another process is analysing the same experiment (typically the same job, redelivered while
# it still runs): look again every 30 s, for as long as a run can last.
ANALYSIS_BUSY_RETRY_SECONDS = 30
ANALYSIS_BUSY_MAX_RETRIES = ANALYSIS_HARD_LIMIT_SECONDS // ANALYSIS_BUSY_RETRY_SECONDS + 2


def _backoff_seconds(retries: int) -> float:
    """Exponential backoff with full jitter: up to 2, 4, 8 ... seconds, capped."""
    return random.uniform(0, min(2 ** (retries + 1), ANALYSIS_BACKOFF_MAX_SECONDS))  # noqa: S311


@shared_task(
    bind=True,
    # Idempotent: the snapshot's one-to-one link to its job makes a second run of a finished
    # job a no-op, and the experiment's analysis lock keeps a redelivered copy from running
    # beside a live one. So acknowledging late is safe, and a worker killed mid-run (whose
    # run stored nothing) gets its task redelivered and completed by another worker.
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=ANALYSIS_SOFT_LIMIT_SECONDS,
    time_limit=ANALYSIS_HARD_LIMIT_SECONDS,
    max_retries=ANALYSIS_BUSY_MAX_RETRIES,
)
def analyze_experiment(self: Task, experiment_id: int, job_id: int) -> int | None:
    """Analyse one experiment for one job; return the snapshot id (None if there is none)."""
    try:
        snapshot = analysis_job_run(
            experiment_id=experiment_id,
            job_id=job_id,
            transient_errors=TRANSIENT_DATABASE_ERRORS,
        )
    except AnalysisBusy as busy:
        raise self.retry(exc=busy, countdown=ANALYSIS_BUSY_RETRY_SECONDS) from busy
    except TRANSIENT_DATABASE_ERRORS as error:
        if self.request.retries >= ANALYSIS_MAX_RETRIES:
            analysis_job_fail(job_id=job_id, error=f"{type(error).__name__}: {error}")
            raise
        raise self.retry(exc=error, countdown=_backoff_seconds(self.request.retries)) from error
    return snapshot.pk if snapshot is not None else None


@shared_task(
    # Requests join an analysis already pending, so a duplicate run queues nothing twice.
    acks_late=True,
    soft_time_limit=ENQUEUE_SOFT_LIMIT_SECONDS,
    time_limit=ENQUEUE_HARD_LIMIT_SECONDS,
)
def analyze_due_experiments() -> int:
    """Queue an analysis of every running experiment whose workspace interval has passed."""
    return scheduled_analyses_request()


# --- Webhooks ------------------------------------------------------------------------------------

# One HTTP POST with a 10 s timeout, plus two small updates.
WEBHOOK_SOFT_LIMIT_SECONDS = 30
WEBHOOK_HARD_LIMIT_SECONDS = 45


@shared_task(
    # An attempt claims its delivery first, so a redelivered task finds it claimed or done
    # and posts nothing; receivers dedupe by X-PLG-Delivery for the rare crash mid-post.
    acks_late=True,
    soft_time_limit=WEBHOOK_SOFT_LIMIT_SECONDS,
    time_limit=WEBHOOK_HARD_LIMIT_SECONDS,
)
def deliver_webhook(delivery_id: int) -> bool:
    """Attempt one delivery (after a failure, the service queues the next attempt)."""
    return webhook_delivery_attempt(delivery_id=delivery_id).delivered


@shared_task(
    # Only enqueues; attempts claim their delivery, so duplicates post nothing twice.
    acks_late=True,
    soft_time_limit=ENQUEUE_SOFT_LIMIT_SECONDS,
    time_limit=ENQUEUE_HARD_LIMIT_SECONDS,
)
def retry_due_webhook_deliveries() -> int:
    """Queue every delivery whose next attempt is due (catches retries whose task was lost)."""
    return webhook_deliveries_retry_due()


# Holdout tasks live with holdouts; importing them here lets Celery's autodiscovery find them.
from experiments.holdouts.tasks import refresh_due_holdouts, refresh_holdout  # noqa: E402, F401

# --- Key results' weekly check-in reminders ------------------------------------------------------

# One forecast per key result due a reminder (milliseconds each) and a notification row.
REMINDERS_SOFT_LIMIT_SECONDS = 5 * 60
REMINDERS_HARD_LIMIT_SECONDS = 6 * 60


@shared_task(
    # Idempotent: one reminder per key result and ISO week (a unique dedupe key), so a
    # redelivered or repeated run sends nothing twice.
    acks_late=True,
    soft_time_limit=REMINDERS_SOFT_LIMIT_SECONDS,
    time_limit=REMINDERS_HARD_LIMIT_SECONDS,
)
def send_check_in_reminders() -> int:
    """Send this week's check-in reminders that are due; return how many were sent."""
    return len(check_in_reminders_send())
