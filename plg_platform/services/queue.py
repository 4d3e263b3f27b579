"""Queueing Celery tasks from services, by the tasks' registered names.

Tasks import services (a task loads by id and calls one service); services never import a
``tasks`` module, so the two never form an import loop. A service queues a task by its name:
after writing, from ``transaction.on_commit`` (``task_enqueue_on_commit``), so a worker never
looks for rows that are not committed yet; with nothing to commit (a fan-out that only reads, a
retry after an autocommitted update), at once (``task_enqueue``).
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction


def task_enqueue(
    name: str, *, args: list[object], countdown: float | None = None, task_id: str | None = None
) -> None:
    """Queue task ``name`` now (honours ``task_always_eager`` like ``Task.apply_async``)."""
    current_app.signature(name, args=args).apply_async(countdown=countdown, task_id=task_id)


def task_enqueue_on_commit(
    name: str, *, args: list[object], countdown: float | None = None, task_id: str | None = None
) -> None:
    """Queue task ``name`` once the current transaction commits."""
    transaction.on_commit(
        lambda: task_enqueue(name, args=args, countdown=countdown, task_id=task_id)
    )
