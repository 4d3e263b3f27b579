"""Services queue experiments' tasks by name (they never import experiments.tasks)."""

from __future__ import annotations

from experiments import tasks
from experiments.services.queue import ANALYZE_EXPERIMENT, DELIVER_WEBHOOK, SYNC_EXPOSURES
from plg_platform.celery import app


def test_the_names_services_queue_are_the_names_the_tasks_register():
    for name, task in (
        (ANALYZE_EXPERIMENT, tasks.analyze_experiment),
        (DELIVER_WEBHOOK, tasks.deliver_webhook),
        (SYNC_EXPOSURES, tasks.sync_exposures),
    ):
        assert task.name == name
        assert app.tasks[name].name == name
