"""The registered names of experiments' Celery tasks, which services queue through
``plg_platform.services.queue`` (services never import ``experiments.tasks``)."""

from __future__ import annotations

from plg_platform.services.queue import task_enqueue, task_enqueue_on_commit

__all__ = [
    "ANALYZE_EXPERIMENT",
    "DELIVER_WEBHOOK",
    "SYNC_EXPOSURES",
    "task_enqueue",
    "task_enqueue_on_commit",
]

# The names ``@shared_task`` gives the tasks in experiments/tasks.py (module + function).
ANALYZE_EXPERIMENT = "experiments.tasks.analyze_experiment"
DELIVER_WEBHOOK = "experiments.tasks.deliver_webhook"
SYNC_EXPOSURES = "experiments.tasks.sync_exposures"
