"""Services queue experiments' tasks by name (they never import experiments.tasks)."""

from __future__ import annotations

from experiments import tasks
from experiments.services.queue import ANALYZE_EXPERIMENT, DELIVER_WEBHOOK, SYNC_EXPOSURES
from plg_platform.celery import app


def test_the_names_services_queue_are_the_names_the_tasks_register():
    assert app.tasks[ANALYZE_EXPERIMENT] is tasks.analyze_experiment
    assert app.tasks[DELIVER_WEBHOOK] is tasks.deliver_webhook
    assert app.tasks[SYNC_EXPOSURES] is tasks.sync_exposures
