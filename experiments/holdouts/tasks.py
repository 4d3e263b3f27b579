"""Celery tasks of holdouts (registered through ``experiments.tasks``): thin, by id."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from experiments.holdouts.models import Holdout
from experiments.holdouts.services import holdout_report_create, holdout_reports_due
from plg_platform.services.queue import task_enqueue

# One report is one unit sync (an INSERT ... SELECT) and one metric statement per unit type
# over the holdout's units: minutes at most. The soft limit raises inside the task, before
# the report row is written, so nothing is half-written.
REPORT_SOFT_LIMIT_SECONDS = 10 * 60
REPORT_HARD_LIMIT_SECONDS = 11 * 60
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
REPORT_MAX_RETRIES = 3
ENQUEUE_SOFT_LIMIT_SECONDS = 60
ENQUEUE_HARD_LIMIT_SECONDS = 90

REFRESH_HOLDOUT = "experiments.holdouts.tasks.refresh_holdout"


@shared_task(
    # A repeated run only adds one more report (reports are snapshots; the page shows the
    # latest), and the unit sync is idempotent: late acknowledgement is safe.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_DATABASE_ERRORS,
    max_retries=REPORT_MAX_RETRIES,
    retry_backoff=True,
    soft_time_limit=REPORT_SOFT_LIMIT_SECONDS,
    time_limit=REPORT_HARD_LIMIT_SECONDS,
)
def refresh_holdout(holdout_id: int) -> int | None:
    """Compute one holdout's impact report; return its id (None: the holdout is gone)."""
    holdout = Holdout.objects.filter(pk=holdout_id).first()
    if holdout is None:
        return None
    return holdout_report_create(holdout=holdout).pk


@shared_task(
    # Only enqueues; a duplicate run queues duplicate reports, which are harmless.
    acks_late=True,
    soft_time_limit=ENQUEUE_SOFT_LIMIT_SECONDS,
    time_limit=ENQUEUE_HARD_LIMIT_SECONDS,
)
def refresh_due_holdouts() -> int:
    """Queue a report of every running holdout and the final one of every ended holdout."""
    due = holdout_reports_due()
    for holdout_id in due:
        task_enqueue(REFRESH_HOLDOUT, args=[holdout_id])
    return len(due)
