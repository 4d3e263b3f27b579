"""Celery tasks of OKRs: thin, they take ids, load, and call one service.

A key result's computed check-in is one row per day, updated in place, so the tasks are safe to
repeat: they acknowledge late and retry only errors a retry can cure. Names keep the
``outcomes.tasks.`` prefix the beat schedule and queued messages use.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from outcomes.okrs.models import KeyResult
from outcomes.okrs.services.check_ins import key_result_check_in_compute
from plg_platform.retries import RETRY_TRANSIENT_DATABASE_ERRORS

# Queuing one task per key result takes a moment.
ENQUEUE_SOFT_LIMIT_SECONDS = 60
ENQUEUE_HARD_LIMIT_SECONDS = 90
# One check-in is one metric statement over one cohort.
CHECK_IN_SOFT_LIMIT_SECONDS = 5 * 60
CHECK_IN_HARD_LIMIT_SECONDS = 6 * 60
# Key results keep getting a final check-in for this many days after their period ends, so
# late events reach the last value too.
CHECK_IN_AFTER_PERIOD_DAYS = 3


@shared_task(
    name="outcomes.tasks.compute_key_result_check_in",
    acks_late=True,  # idempotent: one computed check-in per key result and day, updated
    reject_on_worker_lost=True,
    soft_time_limit=CHECK_IN_SOFT_LIMIT_SECONDS,
    time_limit=CHECK_IN_HARD_LIMIT_SECONDS,
    **RETRY_TRANSIENT_DATABASE_ERRORS,
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
    name="outcomes.tasks.compute_key_result_check_ins",
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
