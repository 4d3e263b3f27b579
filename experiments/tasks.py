"""Celery tasks of experiments: thin, they take ids, load, and call one service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from experiments.models import Experiment, ExperimentStatus
from experiments.services.exposures import exposures_sync_from_events

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
    ids = list(
        Experiment.objects.filter(status=ExperimentStatus.RUNNING).values_list("pk", flat=True)
    )
    for experiment_id in ids:
        sync_exposures.delay(experiment_id)
    return len(ids)
