"""Broker and job-recovery settings that only make sense together."""

from __future__ import annotations

from django.conf import settings

from plg_platform.celery import app

# The longest countdown a task retries with (analysis: 5-minute backoff cap).
LONGEST_RETRY_COUNTDOWN_SECONDS = 5 * 60


def test_redis_visibility_timeout_outlasts_every_task_so_no_slow_task_runs_twice():
    app.loader.import_default_modules()
    limits = {
        name: task.time_limit
        for name, task in app.tasks.items()
        if not name.startswith("celery.") and task.time_limit
    }

    assert (
        max(limits.values()) + LONGEST_RETRY_COUNTDOWN_SECONDS
        < settings.CELERY_VISIBILITY_TIMEOUT_SECONDS
    )


def test_a_dead_worker_s_job_is_failed_within_minutes_not_half_an_hour():
    sweep = next(
        entry["schedule"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "plg_platform.tasks.fail_stale_jobs"
    )

    assert settings.JOBS_HEARTBEAT_SECONDS * 3 <= settings.JOBS_RUNNING_STALE_AFTER_SECONDS
    assert settings.JOBS_RUNNING_STALE_AFTER_SECONDS + sweep <= 3 * 60
