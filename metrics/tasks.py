"""Celery tasks of the metric layer: thin, they take ids, load, and call one service."""

from __future__ import annotations

from celery import shared_task

from metrics.store_moves import STORE_MOVE_TASK, store_move_job_run
from plg_platform.models import BackgroundJob

# A move copies every event of a workspace: tens of millions take minutes to tens of minutes
# (15,000–50,000 events a second, docs/engines.md). The limit stays under the broker's
# visibility timeout (CELERY_VISIBILITY_TIMEOUT), or Redis would hand a long move to a second
# worker while the first still runs. A move stopped at the limit before its switch leaves the
# old store in use; larger histories move with `manage.py move_event_store`, which has none.
STORE_MOVE_SOFT_LIMIT_SECONDS = 58 * 60
STORE_MOVE_HARD_LIMIT_SECONDS = STORE_MOVE_SOFT_LIMIT_SECONDS + 120


@shared_task(
    name=STORE_MOVE_TASK,
    acks_late=True,  # a rerun starts over from an empty target or resumes the tail: idempotent
    reject_on_worker_lost=True,  # a killed worker's move is redelivered, not dropped
    soft_time_limit=STORE_MOVE_SOFT_LIMIT_SECONDS,
    time_limit=STORE_MOVE_HARD_LIMIT_SECONDS,
)
def move_event_store(job_id: int) -> int:
    """Move a workspace's events as its job says; return the events copied (0 if none)."""
    job = BackgroundJob.objects.select_related("workspace").filter(pk=job_id).first()
    if job is None:
        return 0
    report = store_move_job_run(job=job)
    return report.events + report.tail_events if report else 0
